// One image, two services: the mesh tells each app its service's name
// (SERVICE_NAME), so the image's single CMD starts the right one.
"use strict";
const name = process.env.SERVICE_NAME;
if (!["stock", "storefront"].includes(name)) {
  console.error(`SERVICE_NAME must be stock or storefront, not ${JSON.stringify(name)}`);
  process.exit(2);
}
require(`./${name}.js`);
