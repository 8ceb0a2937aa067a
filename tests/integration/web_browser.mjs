// The web console in a real browser: Debian's chromium, headless, driven by playwright-core.
// Run by test_web.py (inside the daemon's network namespace) with PLAYWRIGHT_CORE, CHROMIUM,
// CONSOLE_URL, CONSOLE_TOKEN, ARTIFACTS (screenshots) and PROFILE (a fresh user-data-dir).
const { chromium } = await import(process.env.PLAYWRIGHT_CORE);
const url = process.env.CONSOLE_URL;
const shots = process.env.ARTIFACTS;

// a fresh --user-data-dir: playwright passes PROFILE as the persistent context's directory
const ctx = await chromium.launchPersistentContext(process.env.PROFILE, {
  executablePath: process.env.CHROMIUM,
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];

// page.waitForFunction evaluates a string, which the console's CSP (no unsafe-eval) refuses, as
// it should: poll with page.evaluate (a CDP call the CSP does not govern) instead.
async function until(page, fn, timeout = 20000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (await page.evaluate(fn)) return;
    await page.waitForTimeout(250);
  }
  throw new Error('timed out waiting for ' + fn.toString().slice(0, 120));
}
const step = (name) => console.log('browser: ' + name);

const page = ctx.pages()[0] || await ctx.newPage();

async function run() {
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.setDefaultTimeout(20000);
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png` });

  step('login');
  await page.goto(url);
  await page.waitForSelector('#token');
  await page.fill('#token', 'not-the-token');
  await page.click('#login-submit');
  await page.waitForSelector('#login-error:has-text("wrong token")');
  await shot('login');
  await page.fill('#token', process.env.CONSOLE_TOKEN);
  await page.click('#login-submit');
  await page.waitForSelector('dd[data-fact="Memory"]');
  await page.waitForTimeout(2500);
  await shot('overview');

  step('create from the form');
  await page.click('a[data-nav="#/create"]');
  await page.waitForSelector('#f-image');
  // an engine error lands next to its field
  await page.fill('#f-image', 'busybox');
  await page.fill('#f-name', 'bad/name');
  await page.click('#create-submit');
  await page.waitForSelector('#err-name:not(:empty)');
  await page.fill('#f-name', 'webtest');
  await page.fill('#f-cmd', 'sh -c "echo hello-from-webtest; while true; do i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 0.2; done"');
  await page.fill('#f-memory', '64m');
  await page.fill('#f-cpus', '0.5');
  await shot('create');
  await page.click('#create-submit');
  await page.waitForURL(/#\/c\/[0-9a-f]+/);

  step('graphs move');
  await until(page, () => Number(document.querySelector('.graphs')?.dataset.points || 0) >= 3, 30000);
  await shot('detail');

  step('list');
  await page.click('a[data-nav="#/instances"]');
  const row = page.locator('tr[data-name="webtest"]');
  await row.waitFor();
  await page.waitForSelector('tr[data-name="webtest"] .state.running');
  await page.fill('#filter', 'webt');
  await page.waitForTimeout(4500);
  await shot('instances');
  const spark = await page.evaluate(() => {
    const c = document.querySelector('tr[data-name="webtest"] canvas.spark');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]) ink++;
    return ink;
  });
  if (!spark) throw new Error('the CPU sparkline drew nothing');

  step('terminal');
  await row.locator('a').click();
  await page.click('nav.tabs button[data-tab="terminal"]');
  await page.waitForSelector('#terminal .xterm');
  await page.waitForTimeout(1000);
  await page.click('#terminal');
  await page.keyboard.type('echo browser-$((6*7))\n');
  await until(page, () => {
    const t = document.querySelector('#terminal').kapselTerm;
    if (!t) return false;
    const b = t.buffer.active;
    for (let i = 0; i < b.length; i++) if ((b.getLine(i)?.translateToString() || '').includes('browser-42')) return true;
    return false;
  });
  await shot('terminal');

  step('console (attach)');
  await page.click('nav.tabs button[data-tab="console"]');
  await page.waitForSelector('#console .xterm');

  step('logs and inspect');
  await page.click('nav.tabs button[data-tab="logs"]');
  await page.waitForSelector('#logs:has-text("hello-from-webtest")');
  await shot('logs');
  await page.click('nav.tabs button[data-tab="inspect"]');
  await page.waitForSelector('pre.inspect:has-text("webtest")');

  step('other pages');
  for (const name of ['images', 'networks', 'volumes']) {
    await page.click(`a[data-nav="#/${name}"]`);
    await page.waitForSelector('table.list');
    await page.waitForTimeout(300);
    await shot(name);
  }

  step('narrow screen');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.evaluate(() => { location.hash = '#/instances'; });   // the menu is folded away
  await page.waitForSelector('tr[data-name="webtest"]');
  await page.waitForTimeout(2500);
  await shot('instances-390');
  await page.click('button.menu');
  await page.waitForTimeout(300);
  await shot('menu-390');
  await page.click('a[data-nav="#/create"]');
  await page.waitForSelector('#f-image');
  await shot('create-390');
  await page.setViewportSize({ width: 1280, height: 800 });

  if (process.env.VM_ID) {
    // a micro-VM made by the test (a fake KVM: it cannot run) with one snapshot laid out by hand
    step('vm snapshots');
    await page.evaluate((id) => { location.hash = '#/c/' + id; }, process.env.VM_ID);
    await page.click('nav.tabs button[data-tab="snapshots"]');
    await page.waitForSelector('tr[data-snapshot="warm"]');
    await page.fill('#snapshot-name', 'second');
    await page.click('#snapshot-take');
    await page.waitForSelector('#err-snapshot:has-text("running or paused")');
    await shot('vm-snapshots');
    await page.click('tr[data-snapshot="warm"] button.danger');
    await page.click('dialog.confirm button[data-confirm="yes"]');
    await page.waitForSelector('tr[data-snapshot="warm"]', { state: 'detached' });
    await page.click('a[data-nav="#/instances"]');
  }

  if (process.env.ISO_ID) {
    // an --isolation=vm container (fake KVM) with a checkpoint laid out by hand: the same tab
    step('container checkpoints');
    await page.evaluate((id) => { location.hash = '#/c/' + id; }, process.env.ISO_ID);
    await page.click('nav.tabs button[data-tab="snapshots"]');
    await page.waitForSelector('tr[data-snapshot="cold"]');
    await shot('container-checkpoints');
    await page.click('a[data-nav="#/instances"]');
  }

  step('stop and remove');
  await page.click('a[data-nav="#/instances"]');
  await page.waitForSelector('tr[data-name="webtest"] button[data-action="stop"]');
  await page.click('tr[data-name="webtest"] button[data-action="stop"]');
  await page.click('dialog.confirm button[data-confirm="yes"]');
  await page.waitForSelector('tr[data-name="webtest"] .state.exited', { timeout: 30000 });
  await page.click('tr[data-name="webtest"] button[data-action="remove"]');
  await page.click('dialog.confirm button[data-confirm="yes"]');
  await page.waitForSelector('tr[data-name="webtest"]', { state: 'detached', timeout: 30000 });
}

try {
  await run();
  const csp = problems.filter((p) => /Content Security Policy/i.test(p));
  if (csp.length) console.log('browser: CSP reports (not fatal):\n' + csp.join('\n'));
  // answers with an error status are the test's own doing (a wrong token, a bad name, the first
  // session check); anything else logged as an error fails the test
  const fatal = problems.filter((p) => !/Content Security Policy/i.test(p) && !/Failed to load resource/.test(p));
  if (fatal.length) throw new Error('errors in the page:\n' + fatal.join('\n'));
  console.log('browser: all steps passed');
} catch (e) {
  console.error(e);
  console.error(problems.join('\n'));
  await page.screenshot({ path: `${shots}/failure.png` }).catch(() => {});
  process.exitCode = 1;
} finally {
  await ctx.close();
}
