// The web console's numbers, in Debian's chromium driven by playwright-core (bench/web/run starts
// the daemon and fills it): first paint of the console on loopback, page weight (bytes on the
// wire), and the list of containers and VMs with every instance the daemon has: time to render it
// and how many full updates per second it sustains. Prints one JSON object.
const { chromium } = await import(process.env.PLAYWRIGHT_CORE);
const url = process.env.CONSOLE_URL;
const ctx = await chromium.launchPersistentContext(process.env.PROFILE, {
  executablePath: process.env.CHROMIUM, headless: true, viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = ctx.pages()[0] || await ctx.newPage();
const out = { instances: Number(process.env.INSTANCES || 0) };

async function until(fn, arg, timeout = 60000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (await page.evaluate(fn, arg)) return;
    await page.waitForTimeout(20);
  }
  throw new Error('timed out: ' + fn.toString().slice(0, 100));
}

// page weight: every response's encoded size, as the network saw it
let bytes = 0, requests = 0;
const cdp = await ctx.newCDPSession(page);
await cdp.send('Network.enable');
cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; requests++; });

const fcp = () => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null;
await page.goto(url, { waitUntil: 'load' });
await page.waitForSelector('#token');
out.login_first_contentful_paint_ms = await page.evaluate(fcp);
out.login_weight_bytes = bytes;
out.login_requests = requests;

await page.fill('#token', process.env.CONSOLE_TOKEN);
await page.click('#login-submit');
await page.waitForSelector('dd[data-fact="Memory"]');

// a cold load of the list, logged in: from another document, or the hash change below would stay
// in the login page's document (no new paint entry, no assets fetched)
await page.goto('about:blank');
bytes = 0; requests = 0;
const t0 = Date.now();
await page.goto(url + '#/instances', { waitUntil: 'load' });
out.list_first_contentful_paint_ms = await page.evaluate(fcp);
await until((n) => document.querySelectorAll('#instances tbody tr[data-name]').length >= n, out.instances);
out.list_ready_ms = Date.now() - t0;
out.list_weight_bytes = bytes;
out.list_requests = requests;

// updates: the page refreshes every 2 s; sample the cost of each full render for SAMPLE_S seconds
const samples = [];
let last = await page.evaluate(() => document.querySelector('#instances').dataset.renders);
const end = Date.now() + 1000 * Number(process.env.SAMPLE_S || 20);
while (Date.now() < end) {
  await page.waitForTimeout(200);
  const r = await page.evaluate(() => [document.querySelector('#instances').dataset.renders, document.querySelector('#instances').dataset.renderMs]);
  if (r[0] !== last) { samples.push(Number(r[1])); last = r[0]; }
}
samples.sort((a, b) => a - b);
const med = samples.length ? samples[Math.floor(samples.length / 2)] : null;
out.list_render_ms = { median: med, min: samples[0] ?? null, max: samples[samples.length - 1] ?? null, n: samples.length };
out.list_updates_per_s_capacity = med ? Math.round(1000 / med) : null;
out.bundle = await page.evaluate(async () => {
  const r = {};
  for (const f of ['assets/app.js', 'assets/app.css', '']) r[f || 'index.html'] = (await (await fetch('/console/' + f)).arrayBuffer()).byteLength;
  return r;
});
console.log(JSON.stringify(out, null, 2));
await ctx.close();
