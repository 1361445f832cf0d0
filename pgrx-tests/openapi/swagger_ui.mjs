// Opens Swagger UI (swagger-ui-dist, served from a local port) in Debian's headless
// Chromium, pointed at pgrest's OpenAPI document, waits until the operations of a path
// render, saves a screenshot and prints what rendered as JSON.
//
//   node swagger_ui.mjs TOOLS_DIR DOCUMENT_URL PATH SCREENSHOT
//
// TOOLS_DIR holds node_modules (see .ci/deps.sh); exit status 0 when the operations of
// PATH rendered, 1 otherwise.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [toolsDir, documentUrl, wantedPath, screenshot] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(toolsDir), "package.json"));
const { chromium } = require("playwright-core");
const uiDir = path.dirname(require.resolve("swagger-ui-dist/package.json"));

const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>pgrest</title>
<link rel="stylesheet" href="/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: ${JSON.stringify(documentUrl)}, dom_id: "#swagger-ui" });</script>
</body></html>`;

const types = { ".js": "text/javascript", ".css": "text/css", ".html": "text/html" };
const server = http.createServer((req, res) => {
  const name = new URL(req.url, "http://x").pathname;
  if (name === "/") {
    res.writeHead(200, { "content-type": "text/html" });
    return res.end(page);
  }
  const file = path.join(uiDir, path.normalize(name).replace(/^(\.\.[/\\])+/, ""));
  fs.readFile(file, (err, data) => {
    if (err) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    res.end(data);
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const uiUrl = `http://127.0.0.1:${server.address().port}/`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let result = { rendered: false, operations: [], errors: [] };
try {
  const tab = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
  tab.on("pageerror", (e) => result.errors.push(String(e)));
  await tab.goto(uiUrl);
  const selector = `.opblock[id$="${wantedPath.replace(/^\//, "").replace(/\//g, "_")}"]`;
  // Swagger UI renders operations as they scroll into view: scroll until the wanted
  // path's operations exist (or 30 s pass).
  await tab.waitForSelector(".opblock", { timeout: 30000 });
  for (let i = 0; i < 150 && (await tab.$$(selector)).length === 0; i++) {
    await tab.mouse.wheel(0, 1500);
    await tab.waitForTimeout(200);
  }
  const found = await tab.$(selector);
  if (found) {
    await found.scrollIntoViewIfNeeded();
  }
  result.operations = await tab.$$eval(".opblock", (blocks) =>
    blocks.map((b) => ({
      method: b.querySelector(".opblock-summary-method")?.textContent?.trim(),
      path: b.querySelector(".opblock-summary-path")?.getAttribute("data-path"),
    })),
  );
  result.title = await tab.$eval(".info .title", (e) => e.textContent.trim()).catch(() => null);
  result.rendered = (await tab.$$(selector)).length > 0;
  await tab.screenshot({ path: screenshot, fullPage: false });
} catch (e) {
  result.errors.push(String(e));
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(result));
process.exit(result.rendered ? 0 : 1);
