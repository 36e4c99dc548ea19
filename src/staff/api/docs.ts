/**
 * A self-contained docs page (no CDN: the machines have no internet) that fetches the OpenAPI document
 * and lists each operation with its permission, parameters, body and responses.
 */
export function docsPage(openapiUrl: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Admin API</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#222}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
details{border:1px solid #ddd;border-radius:4px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer} .m{display:inline-block;width:4.5rem;font-weight:700;text-transform:uppercase}
.p{font-family:monospace} .perm{float:right;font-family:monospace;color:#805}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:12px}
</style></head>
<body><h1>Admin API</h1><p id="intro">Loading <a href="${openapiUrl}">${openapiUrl}</a>…</p><div id="ops"></div>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
fetch(${JSON.stringify(openapiUrl)}).then((r) => r.json()).then((doc) => {
  document.getElementById('intro').innerHTML = esc(doc.info.description) +
    ' <a href="${openapiUrl}">openapi.json</a>';
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item))
      (byTag[(op.tags || ['other'])[0]] ||= []).push({ path, method, op });
  let html = '';
  for (const [tag, ops] of Object.entries(byTag)) {
    html += '<h2>' + esc(tag) + '</h2>';
    for (const { path, method, op } of ops) {
      html += '<details><summary><span class="m">' + esc(method) + '</span><span class="p">' + esc(path) +
        '</span> — ' + esc(op.summary) + '<span class="perm">' + esc(op['x-permission']) + '</span></summary>';
      if (op.parameters && op.parameters.length) html += '<h4>Parameters</h4><pre>' + esc(JSON.stringify(op.parameters, null, 2)) + '</pre>';
      if (op.requestBody) html += '<h4>Body</h4><pre>' + esc(JSON.stringify(op.requestBody.content['application/json'].schema, null, 2)) + '</pre>';
      html += '<h4>Responses</h4><pre>' + esc(JSON.stringify(op.responses, null, 2)) + '</pre></details>';
    }
  }
  document.getElementById('ops').innerHTML = html;
}).catch((e) => { document.getElementById('intro').textContent = 'Could not load the document: ' + e; });
</script></body></html>`;
}
