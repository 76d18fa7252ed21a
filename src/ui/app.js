// ociregd web page: browses the registry through its own /v2/ API (and
// /ui/api/repos for the repository list with pull-through marks).
//
// Every string from the registry (names, tags, annotations, artifact
// types) is attacker-controlled: it only ever reaches the page as text
// (textContent, Node.append of strings, attribute values through
// setAttribute with fixed prefixes), never as markup.  The CSP forbids
// inline script and foreign origins on top of that.
//
// Credentials stay in this closure for the page's lifetime (needed to ask
// /token for a token per repository, as docker clients do); tokens are
// kept in a Map.  Nothing goes to web storage or cookies.
'use strict';
(function () {
  const MT_ACCEPT = [
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.oci.artifact.manifest.v1+json',
  ].join(', ');
  const INDEX_TYPES = new Set([
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
  ]);
  const CONFIG_TYPES = new Set([
    'application/vnd.oci.image.config.v1+json',
    'application/vnd.docker.container.image.v1+json',
  ]);
  const REPO_PAGE = 100;
  const TAG_PAGE = 50;
  const FETCH_PARALLEL = 6;
  const CONFIG_MAX = 1 << 20;

  const S = {
    creds: null,        // "Basic ..." value while logged in
    user: null,
    auth: null,         // null: not known yet
    tokens: new Map(),  // scope -> {token, access}
    seq: 0,             // bumps on each navigation: stale work stops
  };
  window.__ociregdUi = { timing: {} };

  // ---- DOM helpers: text only ----
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v == null) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else e.setAttribute(k, v);
      }
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  }
  const $ = (id) => document.getElementById(id);
  function link(href, text) { return el('a', { href: href, text: text }); }
  function repoHref(name) { return '#/r/' + encodeURIComponent(name); }
  function manifestHref(name, digest) {
    return '#/m/' + encodeURIComponent(name) + '/' + encodeURIComponent(digest);
  }
  function shortDigest(d) {
    const i = typeof d === 'string' ? d.indexOf(':') : -1;
    return i < 0 ? String(d) : d.slice(0, i + 1) + d.slice(i + 1, i + 13);
  }
  function fmtSize(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '—';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0, v = n;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + u[i];
  }
  function fmtTime(t) {
    if (!t) return '—';
    const d = new Date(t);
    return isNaN(d) ? String(t) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }
  function copyButton(text) {
    const b = el('button', { type: 'button', class: 'copy', title: 'Copy', text: 'copy' });
    b.dataset.copy = text;
    b.addEventListener('click', () => {
      const done = () => { b.textContent = 'copied'; setTimeout(() => { b.textContent = 'copy'; }, 1200); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, () => { b.textContent = 'select'; });
      } else {
        b.textContent = 'select';
      }
    });
    return b;
  }
  function digestCell(d) {
    return el('span', null, el('code', { class: 'digest', title: d, text: shortDigest(d) }), copyButton(d));
  }
  function show(...nodes) {
    const v = $('view');
    v.replaceChildren(...nodes);
  }
  function crumbs(parts) {
    const n = $('crumbs');
    n.replaceChildren();
    parts.forEach((p, i) => {
      if (i) n.append(' / ');
      n.append(p.href ? link(p.href, p.text) : p.text);
    });
  }
  function errorBox(msg) { return el('p', { class: 'error', text: msg }); }

  // ---- the API, with Docker's token dance ----
  function parseChallenge(h) {
    if (!h || !/^Bearer\s/i.test(h)) return null;
    const out = {};
    const re = /(\w+)="([^"]*)"/g;
    let m;
    while ((m = re.exec(h)) !== null) out[m[1].toLowerCase()] = m[2];
    return out;
  }
  function b64utf8(s) {
    const bytes = new TextEncoder().encode(s);
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }
  function jwtAccess(tok) {
    try {
      const p = tok.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const json = JSON.parse(atob(p + '==='.slice((p.length + 3) % 4)));
      return Array.isArray(json.access) ? json.access : [];
    } catch (e) { return []; }
  }
  async function getToken(service, scope) {
    const q = new URLSearchParams();
    if (service) q.set('service', service);
    if (scope) q.set('scope', scope);
    const headers = {};
    if (S.creds) headers.Authorization = S.creds;
    const r = await fetch('/token?' + q.toString(), { headers: headers, cache: 'no-store', credentials: 'omit' });
    if (!r.ok) return null;
    const j = await r.json();
    const token = j.token || j.access_token;
    return token ? { token: token, access: jwtAccess(token) } : null;
  }
  // api(path, {scope, accept, method}): fetch with a cached token for
  // scope; on a 401 challenge get a token and try once more.
  async function api(path, opts) {
    opts = opts || {};
    const key = opts.scope || '';
    let tok = S.tokens.get(key);
    for (let attempt = 0; ; attempt++) {
      const headers = {};
      if (opts.accept) headers.Accept = opts.accept;
      if (tok) headers.Authorization = 'Bearer ' + tok.token;
      const r = await fetch(path, { method: opts.method || 'GET', headers: headers, cache: 'no-store', credentials: 'omit' });
      if (r.status !== 401 || attempt > 0) return r;
      const ch = parseChallenge(r.headers.get('WWW-Authenticate'));
      if (!ch) return r;
      if (S.auth === null) S.auth = true;
      tok = await getToken(ch.service, opts.scope || ch.scope);
      if (!tok) return r;
      S.tokens.set(key, tok);
    }
  }
  function repoScope(name) { return 'repository:' + name + ':pull,delete'; }
  function mayDelete(name) {
    if (S.auth === false) return true;
    const t = S.tokens.get(repoScope(name));
    if (!t) return false;
    return t.access.some((a) => a && a.type === 'repository' && a.name === name &&
      Array.isArray(a.actions) && a.actions.includes('delete'));
  }
  async function apiError(r) {
    let msg = r.status + ' ' + r.statusText;
    try {
      const j = await r.json();
      if (j && j.errors && j.errors[0]) msg += ': ' + j.errors[0].code + ' ' + (j.errors[0].message || '');
    } catch (e) { /* not JSON */ }
    return msg;
  }
  // run(items, fn): fn over items, FETCH_PARALLEL at a time.
  async function run(items, fn) {
    let i = 0;
    const worker = async () => { while (i < items.length) { const it = items[i++]; await fn(it); } };
    const ws = [];
    for (let k = 0; k < Math.min(FETCH_PARALLEL, items.length); k++) ws.push(worker());
    await Promise.all(ws);
  }

  // ---- session ----
  function renderSession() {
    const loggedIn = S.user !== null;
    $('login').hidden = !S.auth || loggedIn;
    $('whoami').hidden = !loggedIn;
    $('whoami-name').textContent = loggedIn ? S.user : '';
  }
  async function login(ev) {
    ev.preventDefault();
    const user = $('login-user').value, pass = $('login-pass').value;
    $('login-error').textContent = '';
    const creds = 'Basic ' + b64utf8(user + ':' + pass);
    let r;
    try {
      r = await fetch('/token?scope=' + encodeURIComponent('registry:catalog:*'),
        { headers: { Authorization: creds }, cache: 'no-store', credentials: 'omit' });
    } catch (e) { r = null; }
    if (!r || !r.ok) {
      $('login-error').textContent = r && r.status === 429 ? 'Too many attempts; wait a minute.' : 'Login failed.';
      return;
    }
    S.creds = creds;
    S.user = user;
    S.tokens.clear();
    $('login-pass').value = '';
    renderSession();
    route();
  }
  function logout() {
    S.creds = null;
    S.user = null;
    S.tokens.clear();
    renderSession();
    route();
  }

  // ---- repository list ----
  function parseHashQuery(h) {
    const i = h.indexOf('?');
    return new URLSearchParams(i < 0 ? '' : h.slice(i + 1));
  }
  async function viewList(q, last, seq) {
    crumbs([{ text: 'Repositories' }]);
    const input = el('input', { type: 'search', id: 'filter', placeholder: 'Filter repositories', value: q, 'aria-label': 'Filter repositories' });
    const form = el('form', { class: 'toolbar', id: 'filter-form' }, input, el('button', { type: 'submit', text: 'Filter' }));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      if (input.value) p.set('q', input.value);
      location.hash = '#/?' + p.toString();
    });
    show(el('h1', { text: 'Repositories' }), form, el('p', { class: 'muted', text: 'Loading…' }));
    const p = new URLSearchParams({ n: String(REPO_PAGE) });
    if (q) p.set('q', q);
    if (last) p.set('last', last);
    const r = await api('/ui/api/repos?' + p.toString(), { scope: 'registry:catalog:*' });
    if (seq !== S.seq) return;
    if (!r.ok) {
      renderSession();
      show(el('h1', { text: 'Repositories' }),
        errorBox(r.status === 401 ? 'Log in to browse this registry.' : await apiError(r)));
      return;
    }
    const j = await r.json();
    if (seq !== S.seq) return;
    S.auth = !!j.auth;
    renderSession();
    const rows = j.repositories.map((repo) => {
      const name = el('td', null, link(repoHref(repo.name), repo.name));
      if (repo.proxy) {
        name.append(el('span', { class: 'badge cached', title: 'pull-through cache of ' + repo.upstream, text: 'cached' }));
      }
      const up = repo.proxy ? el('td', { class: 'mono' }, repo.upstream + (repo.upstream_name ? ' → ' + repo.upstream_name : '')) : el('td', { class: 'muted', text: 'local' });
      return el('tr', { class: 'repo' }, name, up);
    });
    const table = el('table', { id: 'repos' },
      el('thead', null, el('tr', null, el('th', { text: 'Repository' }), el('th', { text: 'Source' }))),
      el('tbody', null, ...rows));
    const pager = el('div', { class: 'pager' });
    if (last) {
      const b = el('button', { type: 'button', text: '← First page' });
      b.addEventListener('click', () => { history.back(); });
      pager.append(b);
    }
    if (j.next) {
      const np = new URLSearchParams();
      if (q) np.set('q', q);
      np.set('last', j.next);
      pager.append(el('a', { id: 'next-page', href: '#/?' + np.toString(), text: 'Next page →' }));
    }
    show(el('h1', { text: 'Repositories' }), form,
      rows.length ? table : el('p', { class: 'muted', id: 'no-repos', text: q ? 'No repository matches.' : 'No repositories.' }),
      pager);
    input.focus();
  }

  // ---- pull commands ----
  function pullCommands(name, ref) {
    const host = location.host;
    const sep = ref.includes(':') ? '@' : ':';
    const image = host + '/' + name + sep + ref;
    const insecure = location.protocol === 'http:';
    const cmds = [
      'docker pull ' + image,
      'podman pull ' + (insecure ? '--tls-verify=false ' : '') + image,
      'skopeo inspect ' + (insecure ? '--tls-verify=false ' : '') + 'docker://' + image,
    ];
    return el('div', { class: 'cmds', id: 'pull-cmds' },
      ...cmds.map((c) => el('div', null, el('code', { text: c }), copyButton(c))));
  }

  // ---- a repository ----
  // details(name, ref): digest, media type, size, created, platforms.
  async function manifestDetails(name, ref) {
    const r = await api('/v2/' + name + '/manifests/' + encodeURIComponent(ref), { scope: repoScope(name), accept: MT_ACCEPT });
    if (!r.ok) throw new Error(await apiError(r));
    const digest = r.headers.get('Docker-Content-Digest');
    const m = await r.json();
    const mt = m.mediaType || r.headers.get('Content-Type') || '';
    const d = { digest: digest, mediaType: mt, manifest: m, created: null, platforms: null, size: null };
    const ann = m.annotations || {};
    if (typeof ann['org.opencontainers.image.created'] === 'string') d.created = ann['org.opencontainers.image.created'];
    if (INDEX_TYPES.has(mt) || Array.isArray(m.manifests)) {
      d.platforms = (m.manifests || []).filter((c) => c && c.platform)
        .map((c) => c.platform.os + '/' + c.platform.architecture + (c.platform.variant ? '/' + c.platform.variant : ''));
      d.size = (m.manifests || []).reduce((a, c) => a + (Number(c && c.size) || 0), 0);
      d.sizeNote = 'manifests only';
    } else {
      d.size = (m.layers || []).reduce((a, l) => a + (Number(l && l.size) || 0), 0) + (Number(m.config && m.config.size) || 0);
      const c = m.config;
      if (!d.created && c && CONFIG_TYPES.has(c.mediaType) && Number(c.size) <= CONFIG_MAX) {
        const cr = await api('/v2/' + name + '/blobs/' + c.digest, { scope: repoScope(name) });
        if (cr.ok) {
          try { const cj = await cr.json(); if (typeof cj.created === 'string') d.created = cj.created; } catch (e) { /* not JSON */ }
        }
      }
    }
    return d;
  }
  function tagRow(name, tag, state) {
    const tr = el('tr', { class: 'tag' });
    tr.dataset.tag = tag;
    const cells = {
      tag: el('td', null, link(manifestHref(name, tag), tag)),
      digest: el('td', { class: 'c-digest muted', text: '…' }),
      size: el('td', { class: 'num c-size muted', text: '…' }),
      created: el('td', { class: 'c-created muted', text: '…' }),
      platforms: el('td', { class: 'c-platforms' }),
      actions: el('td', { class: 'c-actions' }),
    };
    tr.append(cells.tag, cells.digest, cells.size, cells.created, cells.platforms, cells.actions);
    const d = state.details.get(tag);
    if (d) fillTagRow(name, tag, tr, d, state);
    return tr;
  }
  function fillTagRow(name, tag, tr, d, state) {
    const c = tr.children;
    if (d.error) {
      c[1].replaceChildren(el('span', { class: 'error', text: d.error }));
      c[2].textContent = c[3].textContent = '';
      tr.dataset.loaded = 'error';
      return;
    }
    c[1].className = 'c-digest';
    c[1].replaceChildren(digestCell(d.digest));
    c[2].className = 'num c-size';
    c[2].textContent = fmtSize(d.size);
    c[2].title = d.sizeNote ? d.size + ' bytes (' + d.sizeNote + ')' : d.size + ' bytes';
    c[3].className = 'c-created';
    c[3].textContent = fmtTime(d.created);
    c[4].textContent = d.platforms ? d.platforms.join(', ') : '';
    c[5].replaceChildren();
    if (mayDelete(name)) c[5].append(deleteControl(name, tag, state));
    tr.dataset.loaded = 'yes';
  }
  function deleteControl(name, tag, state) {
    const wrap = el('span', { class: 'confirm' });
    const del = el('button', { type: 'button', class: 'danger delete', text: 'Delete' });
    del.addEventListener('click', () => {
      const yes = el('button', { type: 'button', class: 'danger confirm-delete', text: 'Delete tag' });
      const no = el('button', { type: 'button', class: 'cancel-delete', text: 'Cancel' });
      wrap.replaceChildren(el('span', { text: 'Delete “' + tag + '”?' }), yes, no);
      no.addEventListener('click', () => wrap.replaceChildren(del));
      yes.addEventListener('click', async () => {
        yes.disabled = true;
        const r = await api('/v2/' + name + '/manifests/' + encodeURIComponent(tag), { method: 'DELETE', scope: repoScope(name) });
        if (r.status === 202 || r.ok) {
          state.tags = state.tags.filter((t) => t !== tag);
          state.details.delete(tag);
          state.render();
          state.status('Deleted tag ' + tag + '.');
        } else {
          wrap.replaceChildren(el('span', { class: 'error', text: 'Delete failed: ' + await apiError(r) }));
        }
      });
    });
    wrap.append(del);
    return wrap;
  }
  async function repoInfo(name) {
    const r = await api('/ui/api/repos?' + new URLSearchParams({ q: name, n: '500' }).toString(), { scope: 'registry:catalog:*' });
    if (!r.ok) return null;
    const j = await r.json();
    S.auth = !!j.auth;
    return (j.repositories || []).find((x) => x.name === name) || null;
  }
  async function viewRepo(name, seq) {
    const t0 = performance.now();
    crumbs([{ text: 'Repositories', href: '#/' }, { text: name }]);
    show(el('h1', { text: name }), el('p', { class: 'muted', text: 'Loading…' }));
    const tags = [];
    let url = '/v2/' + name + '/tags/list?n=10000';
    for (let pages = 0; url && pages < 100; pages++) {
      const r = await api(url, { scope: repoScope(name) });
      if (seq !== S.seq) return;
      if (!r.ok) { show(el('h1', { text: name }), errorBox(await apiError(r))); return; }
      const j = await r.json();
      for (const t of j.tags || []) tags.push(t);
      const lh = r.headers.get('Link');
      const m = lh && /<([^>]+)>;\s*rel="next"/.exec(lh);
      url = m && m[1].startsWith('/v2/') ? m[1] : null;
    }
    const info = await repoInfo(name).catch(() => null);
    if (seq !== S.seq) return;
    renderSession();
    const state = { tags: tags, details: new Map(), sort: 'name', dir: 1, page: 0 };
    const statusLine = el('p', { class: 'muted', id: 'status' });
    state.status = (s) => { statusLine.textContent = s; };
    const tbody = el('tbody');
    const pager = el('div', { class: 'pager' });
    const sortBtn = (key, label) => {
      const b = el('button', { type: 'button', id: 'sort-' + key, text: label });
      b.addEventListener('click', () => {
        state.dir = state.sort === key ? -state.dir : (key === 'time' ? -1 : 1);
        state.sort = key;
        state.page = 0;
        state.render();
      });
      return b;
    };
    const table = el('table', { id: 'tags' },
      el('thead', null, el('tr', null,
        el('th', null, sortBtn('name', 'Tag')), el('th', { text: 'Digest' }), el('th', { text: 'Size' }),
        el('th', null, sortBtn('time', 'Created')), el('th', { text: 'Platforms' }), el('th'))),
      tbody);
    const sorted = () => {
      const a = state.tags.slice();
      if (state.sort === 'time') {
        const tm = (t) => { const d = state.details.get(t); const v = d && d.created ? Date.parse(d.created) : NaN; return isNaN(v) ? null : v; };
        a.sort((x, y) => {
          const tx = tm(x), ty = tm(y);
          if (tx === null && ty === null) return x < y ? -1 : x > y ? 1 : 0;
          if (tx === null) return 1;
          if (ty === null) return -1;
          return (tx - ty) * state.dir || (x < y ? -1 : 1);
        });
      } else {
        a.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0) * state.dir);
      }
      return a;
    };
    const pending = new Set();
    const load = async (list) => {
      const todo = list.filter((t) => !state.details.has(t) && !pending.has(t));
      todo.forEach((t) => pending.add(t));
      await run(todo, async (t) => {
        if (seq !== S.seq) return;
        let d;
        try { d = await manifestDetails(name, t); } catch (e) { d = { error: String(e.message || e) }; }
        state.details.set(t, d);
        pending.delete(t);
        const tr = tbody.querySelector('tr[data-tag="' + CSS.escape(t) + '"]');
        if (tr && seq === S.seq) fillTagRow(name, t, tr, d, state);
      });
    };
    state.render = () => {
      const all = sorted();
      const pages = Math.max(1, Math.ceil(all.length / TAG_PAGE));
      if (state.page >= pages) state.page = pages - 1;
      const slice = all.slice(state.page * TAG_PAGE, (state.page + 1) * TAG_PAGE);
      tbody.replaceChildren(...slice.map((t) => tagRow(name, t, state)));
      pager.replaceChildren();
      if (pages > 1) {
        const prev = el('button', { type: 'button', id: 'tags-prev', text: '←' });
        const next = el('button', { type: 'button', id: 'tags-next', text: '→' });
        prev.disabled = state.page === 0;
        next.disabled = state.page >= pages - 1;
        prev.addEventListener('click', () => { state.page--; state.render(); });
        next.addEventListener('click', () => { state.page++; state.render(); });
        pager.append(prev, el('span', { text: 'Page ' + (state.page + 1) + ' of ' + pages + ' (' + all.length + ' tags)' }), next);
      }
      return load(slice);
    };
    const head = el('h1', { text: name });
    const meta = el('p', { class: 'muted', id: 'repo-meta' }, tags.length + ' tag' + (tags.length === 1 ? '' : 's'));
    if (info && info.proxy) {
      head.append(el('span', { class: 'badge cached', text: 'cached' }));
      meta.append(' · pull-through cache of ', el('code', { id: 'upstream', text: info.upstream + (info.upstream_name ? ' → ' + info.upstream_name : '') }));
    }
    show(head, meta, pullCommands(name, tags.includes('latest') ? 'latest' : (tags[0] || 'latest')),
      el('h2', { text: 'Tags' }), tags.length ? table : el('p', { class: 'muted', text: 'No tags.' }), pager, statusLine);
    await state.render();
    if (seq !== S.seq) return;
    // The first screen is complete: every visible row has its details.
    window.__ociregdUi.timing.repoFirstScreenMs = performance.now() - t0;
    window.__ociregdUi.timing.repo = name;
    table.dataset.ready = 'yes';
    // Then the rest in the background, so sorting by time covers every
    // tag; re-sort once when they are all known.
    await load(state.tags);
    if (seq !== S.seq) return;
    table.dataset.complete = 'yes';
    if (state.sort === 'time') state.render();
  }

  // ---- a manifest ----
  function kvList(obj, id) {
    const dl = el('dl', { class: 'kv', id: id });
    for (const [k, v] of Object.entries(obj || {})) {
      dl.append(el('dt', { text: k }), el('dd', { text: typeof v === 'string' ? v : JSON.stringify(v) }));
    }
    return dl;
  }
  async function viewManifest(name, ref, seq) {
    crumbs([{ text: 'Repositories', href: '#/' }, { text: name, href: repoHref(name) }, { text: ref.includes(':') ? shortDigest(ref) : ref }]);
    show(el('h1', { text: name + (ref.includes(':') ? '@' : ':') + ref }), el('p', { class: 'muted', text: 'Loading…' }));
    const r = await api('/v2/' + name + '/manifests/' + encodeURIComponent(ref), { scope: repoScope(name), accept: MT_ACCEPT });
    if (seq !== S.seq) return;
    if (!r.ok) { show(el('h1', { text: name }), errorBox(await apiError(r))); return; }
    const digest = r.headers.get('Docker-Content-Digest');
    const text = await r.text();
    let m;
    try { m = JSON.parse(text); } catch (e) { show(errorBox('The manifest is not JSON.')); return; }
    const mt = m.mediaType || r.headers.get('Content-Type') || '';
    const out = [el('h1', { text: name + (ref.includes(':') ? '@' : ':') + ref })];
    const facts = el('dl', { class: 'kv', id: 'manifest-facts' },
      el('dt', { text: 'Digest' }), el('dd', null, el('code', { id: 'manifest-digest', text: digest }), copyButton(digest)),
      el('dt', { text: 'Media type' }), el('dd', { text: mt }),
      el('dt', { text: 'Manifest size' }), el('dd', { text: text.length + ' bytes' }));
    if (m.artifactType) facts.append(el('dt', { text: 'Artifact type' }), el('dd', { text: m.artifactType }));
    if (m.subject && m.subject.digest) {
      facts.append(el('dt', { text: 'Subject' }), el('dd', null, link(manifestHref(name, m.subject.digest), shortDigest(m.subject.digest))));
    }
    out.push(facts, el('h2', { text: 'Pull' }), pullCommands(name, digest || ref));
    if (Array.isArray(m.manifests)) {
      const rows = m.manifests.map((c) => el('tr', { class: 'child' },
        el('td', { text: c.platform ? c.platform.os + '/' + c.platform.architecture + (c.platform.variant ? '/' + c.platform.variant : '') : '—' }),
        el('td', null, link(manifestHref(name, c.digest), shortDigest(c.digest)), copyButton(String(c.digest))),
        el('td', { text: c.mediaType || '' }),
        el('td', { class: 'num', text: fmtSize(c.size) })));
      out.push(el('h2', { text: 'Manifests (' + rows.length + ')' }), el('table', { id: 'children' },
        el('thead', null, el('tr', null, el('th', { text: 'Platform' }), el('th', { text: 'Digest' }), el('th', { text: 'Media type' }), el('th', { text: 'Size' }))),
        el('tbody', null, ...rows)));
    }
    if (m.config) {
      out.push(el('h2', { text: 'Config' }), el('dl', { class: 'kv', id: 'config' },
        el('dt', { text: 'Digest' }), el('dd', null, el('code', { text: String(m.config.digest) }), copyButton(String(m.config.digest))),
        el('dt', { text: 'Media type' }), el('dd', { text: String(m.config.mediaType || '') }),
        el('dt', { text: 'Size' }), el('dd', { text: fmtSize(m.config.size) })));
    }
    const blobs = Array.isArray(m.layers) ? m.layers : Array.isArray(m.blobs) ? m.blobs : null;
    if (blobs) {
      const total = blobs.reduce((a, l) => a + (Number(l && l.size) || 0), 0);
      const rows = blobs.map((l, i) => el('tr', { class: 'layer' },
        el('td', { class: 'num', text: String(i + 1) }),
        el('td', null, el('code', { title: String(l.digest), text: shortDigest(l.digest) }), copyButton(String(l.digest))),
        el('td', { text: String(l.mediaType || '') }),
        el('td', { class: 'num', title: l.size + ' bytes', text: fmtSize(l.size) })));
      out.push(el('h2', { text: 'Layers (' + rows.length + ', ' + fmtSize(total) + ')' }), el('table', { id: 'layers' },
        el('thead', null, el('tr', null, el('th', { text: '#' }), el('th', { text: 'Digest' }), el('th', { text: 'Media type' }), el('th', { text: 'Size' }))),
        el('tbody', null, ...rows)));
    }
    if (m.annotations && Object.keys(m.annotations).length) {
      out.push(el('h2', { text: 'Annotations' }), kvList(m.annotations, 'annotations'));
    }
    const refHead = el('h2', { text: 'Referrers' });
    const refBox = el('div', { id: 'referrers' }, el('p', { class: 'muted', text: 'Loading…' }));
    out.push(refHead, refBox);
    show(...out);
    if (!digest) { refBox.replaceChildren(el('p', { class: 'muted', text: 'No digest.' })); return; }
    const rr = await api('/v2/' + name + '/referrers/' + digest, { scope: repoScope(name) });
    if (seq !== S.seq) return;
    if (!rr.ok) { refBox.replaceChildren(errorBox(await apiError(rr))); return; }
    const ri = await rr.json();
    const refs = Array.isArray(ri.manifests) ? ri.manifests : [];
    if (!refs.length) { refBox.replaceChildren(el('p', { class: 'muted', id: 'no-referrers', text: 'None (no signatures, SBOMs or attestations).' })); return; }
    const rows = refs.map((d) => {
      const ann = el('td');
      for (const [k, v] of Object.entries(d.annotations || {})) ann.append(el('div', null, el('span', { class: 'muted', text: k + ': ' }), String(v)));
      return el('tr', { class: 'referrer' },
        el('td', { text: String(d.artifactType || '—') }),
        el('td', null, link(manifestHref(name, d.digest), shortDigest(d.digest))),
        el('td', { class: 'num', text: fmtSize(d.size) }), ann);
    });
    refBox.replaceChildren(el('table', null,
      el('thead', null, el('tr', null, el('th', { text: 'Artifact type' }), el('th', { text: 'Digest' }), el('th', { text: 'Size' }), el('th', { text: 'Annotations' }))),
      el('tbody', null, ...rows)));
  }

  // ---- routing (the hash, so the daemon serves one document) ----
  function route() {
    const seq = ++S.seq;
    const h = location.hash || '#/';
    let m;
    let p;
    if ((m = /^#\/r\/([^/?]+)$/.exec(h)) !== null) {
      p = viewRepo(decodeURIComponent(m[1]), seq);
    } else if ((m = /^#\/m\/([^/?]+)\/([^/?]+)$/.exec(h)) !== null) {
      p = viewManifest(decodeURIComponent(m[1]), decodeURIComponent(m[2]), seq);
    } else {
      const q = parseHashQuery(h);
      p = viewList(q.get('q') || '', q.get('last') || '', seq);
    }
    p.catch((e) => { if (seq === S.seq) show(errorBox('Error: ' + (e && e.message ? e.message : String(e)))); });
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    window.addEventListener('hashchange', route);
    route();
  });
})();
