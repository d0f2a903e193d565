// storefront: the page for one item, with its stock from the `stock` service.
// Plain Node.js, no npm packages. Node's http module ignores HTTP_PROXY: it
// calls http://stock/ directly, and on meshsim's Docker runtime the pod's
// capture rules hand that connection to the sidecar (docs/docker.md).
"use strict";
const http = require("http");

const port = Number(process.env.PORT || 8080);
// Headers a tracing mesh needs forwarded from the incoming request to the
// calls it causes, so the spans of one request join up (docs/observability.md).
const TRACE_HEADERS = [
  "x-request-id", "traceparent", "tracestate", "x-b3-traceid", "x-b3-spanid",
  "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags", "b3",
];

function stock(id, incoming) {
  const headers = {};
  for (const h of TRACE_HEADERS) {
    if (incoming.headers[h]) headers[h] = incoming.headers[h];
  }
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "stock", port: 80, path: `/stock/${id}`, headers, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => {
        if (res.statusCode !== 200) reject(new Error(`stock answered ${res.statusCode}`));
        else resolve(JSON.parse(body));
      });
    });
    req.on("timeout", () => req.destroy(new Error("stock timed out")));
    req.on("error", reject);
  });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://storefront");
  if (url.pathname === "/healthz" || url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(url.pathname === "/" ? "storefront\n" : "ok\n");
    return;
  }
  const m = url.pathname.match(/^\/items\/(\d+)$/);
  if (req.method === "GET" && m) {
    try {
      const s = await stock(Number(m[1]), req);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: s.id, in_stock: s.count, stock_version: s.version }));
    } catch (err) {
      res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: String(err.message || err) }));
    }
    return;
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: `no route for ${req.method} ${url.pathname}` }));
});

server.listen(port, () => console.log(`storefront listening on ${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
