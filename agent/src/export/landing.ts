/** A small page at / that links to what the agent serves. */
export function landingPage(version: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>microstat</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}</style>
</head>
<body>
<h1>microstat</h1>
<p>Host footprint of every container and microVM on this host. Version ${escapeHtml(version)}.</p>
<ul>
<li><a href="metrics">/metrics</a>: Prometheus metrics</li>
<li><a href="api/v1/workloads">/api/v1/workloads</a>: current workloads as JSON</li>
<li><a href="healthz">/healthz</a>: health</li>
</ul>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
