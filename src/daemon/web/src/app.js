// The console's shell: login, navigation and a hash router over the pages.
import './app.css';
import { api } from './api.js';
import { h, overview, instances, createForm, detail, images, networks, volumes } from './pages.js';

const nav = [
  ['#/overview', 'Host'], ['#/instances', 'Containers & VMs'], ['#/create', 'Create'],
  ['#/images', 'Images'], ['#/networks', 'Networks'], ['#/volumes', 'Volumes'],
];

const routes = [
  [/^#\/overview$/, (r, c) => overview(r, c)],
  [/^#\/instances$/, (r, c) => instances(r, c)],
  [/^#\/create$/, (r, c) => createForm(r, c)],
  [/^#\/c\/([0-9a-f]+)(?:\/(\w+))?$/, (r, c, m) => detail(r, { ...c, tab: m[2] }, m[1])],
  [/^#\/images$/, (r, c) => images(r, c)],
  [/^#\/networks$/, (r, c) => networks(r, c)],
  [/^#\/volumes$/, (r, c) => volumes(r, c)],
];

const app = document.getElementById('app');
let cleanup = null;

function loginPage(msg) {
  const token = h('input', { type: 'password', id: 'token', autocomplete: 'current-password', required: true });
  const err = h('div', { class: 'field-error', id: 'login-error', role: 'alert' }, msg || '');
  const form = h('form', { class: 'login card' },
    h('h1', {}, 'kapsel'),
    h('label', { for: 'token' }, 'Console token'), token,
    h('small', {}, 'kapseld printed it on its first start; it is kept in web/token under its root.'),
    err, h('button', { type: 'submit', class: 'primary', id: 'login-submit' }, 'Log in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api.login(token.value.trim());
      if (!location.hash || location.hash === '#/login') location.hash = '#/overview';
      shell();
    } catch (e) { err.textContent = e.message; }
  });
  app.replaceChildren(h('main', { class: 'center' }, form));
  token.focus();
}

function shell() {
  const links = nav.map(([href, label]) => h('a', { href, 'data-nav': href }, label));
  const menu = h('button', { type: 'button', class: 'menu', 'aria-label': 'menu', onclick: () => side.classList.toggle('open') }, '☰');
  const side = h('nav', { class: 'side', 'aria-label': 'main' }, ...links,
    h('button', { type: 'button', class: 'logout', onclick: async () => { await api.logout().catch(() => {}); loginPage(); } }, 'Log out'));
  const main = h('main', { class: 'page', id: 'page' });
  app.replaceChildren(h('header', { class: 'top' }, menu, h('a', { href: '#/overview', class: 'brand' }, 'kapsel')),
    h('div', { class: 'layout' }, side, main));
  const go = (hash) => { location.hash = hash; };
  const route = () => {
    if (cleanup) cleanup();
    cleanup = null;
    side.classList.remove('open');
    const hash = location.hash || '#/overview';
    links.forEach((a) => a.classList.toggle('on', hash.startsWith(a.dataset.nav)));
    main.replaceChildren();
    for (const [re, fn] of routes) {
      const m = re.exec(hash);
      if (m) { cleanup = fn(main, { go }, m) || null; return; }
    }
    go('#/overview');
  };
  window.onhashchange = route;
  route();
}

window.addEventListener('kapsel-logout', () => {
  if (cleanup) cleanup();
  cleanup = null;
  window.onhashchange = null;
  loginPage('The session ended: log in again.');
});

api.session().then(shell, () => loginPage());
