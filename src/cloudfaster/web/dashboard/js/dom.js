// A tiny element builder and the shared bits of every view: headings, tables, forms, notices, errors in words.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

let uid = 0;
export function field(label, input, hint) {
  const id = input.id || `f${++uid}`;
  input.id = id;
  const hintEl = hint ? h('small', {id: `${id}-hint`, class: 'hint'}, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', {class: 'field'}, h('label', {for: id}, label), input, hintEl);
}

export function page(title, ...children) {
  document.title = `${title} · CloudFaster`;
  const main = document.getElementById('main');
  main.replaceChildren(h('h1', {}, title), ...children.flat(Infinity).filter((c) => c != null && c !== false));
  return main;
}

// On a phone each row becomes a card of "header: value" lines (app.css) instead of a table scrolling sideways.
export function table(caption, headers, rows) {
  const labels = headers.map((t) => (Array.isArray(t) ? t[0] : t));
  for (const row of rows) [...row.children].forEach((cell, i) => { cell.dataset.label = labels[i] || ''; });
  return h('div', {class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption}, h('table', {class: 'stack-table'},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((t) => (Array.isArray(t) ? h('th', {scope: 'col', class: t[1]}, t[0]) : h('th', {scope: 'col'}, t))))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', {colspan: headers.length, class: 'muted'}, 'Nothing yet.')))));
}

// Put a fresh row in place of an old one, keeping the cells' labels.
export function replaceRow(old, row) {
  [...row.children].forEach((cell, i) => { cell.dataset.label = old.children[i]?.dataset.label || ''; });
  old.replaceWith(row);
}

export function count(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

export function errorBox(error) {
  return h('p', {class: 'error', role: 'alert'}, error.message || String(error));
}

export function notify(text, kind = 'ok') {
  const box = document.getElementById('notice');
  box.className = `notice ${kind}`;
  box.textContent = text;
}

export function statusBadge(status) {
  return h('span', {class: `badge s-${String(status).replace(/[^a-z_]/g, '')}`}, status);
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

// A form's submit with the button disabled meanwhile and the API's error shown in words beside it.
export function onSubmit(form, action) {
  const out = h('div', {class: 'form-result', 'aria-live': 'polite'});
  form.append(out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    out.replaceChildren();
    try {
      const shown = await action(new FormData(form), out);
      if (shown) out.replaceChildren(shown);
    } catch (error) {
      out.replaceChildren(errorBox(error));
    } finally {
      if (button) button.disabled = false;
    }
  });
  return form;
}
