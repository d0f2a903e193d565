// stock: how many of an item are in stock. Plain Node.js, no npm packages.
// The mesh tells it its port (PORT) and version (STOCK_VERSION, from the
// scenario's env per version); it knows nothing else about the mesh.
"use strict";
const http = require("http");

const version = process.env.STOCK_VERSION || "v1";
const port = Number(process.env.PORT || 8080);

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://stock");
  if (url.pathname === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok\n");
    return;
  }
  const m = url.pathname.match(/^\/stock\/(\d+)$/);
  if (req.method === "GET" && m) {
    const id = Number(m[1]);
    // v2 counts differently: the canary's answers are told apart by `version`
    const count = version === "v2" ? (id * 7) % 50 : (id * 3) % 20;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id, count, version }));
    return;
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: `no route for ${req.method} ${url.pathname}` }));
});

server.listen(port, () => console.log(`stock ${version} listening on ${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
