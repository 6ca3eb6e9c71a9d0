// Filters over the rendered rows (the page reads fine without this script: every call is shown).
const form = document.getElementById('f'), calls = document.getElementById('calls');
const rows = [...calls.querySelectorAll('details')];
const box = r => r.closest('[data-b]'), session = r => r.closest('[data-s]');
function fill(name, pairs) {
  const select = form.elements[name];
  for (const [value, text] of new Map(pairs)) select.add(new Option(text, value));
}
fill('s', [...calls.querySelectorAll('[data-s]')].map(s => [s.dataset.s, s.dataset.l]));
fill('b', [...calls.querySelectorAll('[data-b]')].map(b => b.dataset.b).sort().map(b => [b, b || '(no sandbox)']));
fill('t', rows.map(r => r.querySelector('b').textContent).sort().map(t => [t, t]));
fill('o', rows.map(r => [r.className.split(' ')[0], r.querySelector('.l').textContent]));
form.hidden = false;
function apply() {
  const f = form.elements, q = f.q.value.trim().toLowerCase();
  let shown = 0;
  for (const r of rows) {
    const keep = (!f.s.value || session(r).dataset.s === f.s.value)
      && (!f.b.value || box(r).dataset.b === f.b.value)
      && (!f.t.value || r.querySelector('b').textContent === f.t.value)
      && (!f.o.value || r.classList.contains(f.o.value))
      && (!q || r.textContent.toLowerCase().includes(q));
    r.hidden = !keep;
    shown += keep;
  }
  for (const g of calls.querySelectorAll('[data-b],[data-s]')) g.hidden = !g.querySelector('details:not([hidden])');
  document.getElementById('count').textContent = shown === rows.length ? '' : `(${shown} of ${rows.length} shown)`;
}
form.addEventListener('input', apply);
form.addEventListener('reset', () => setTimeout(apply));
function reveal() {
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target && target.tagName === 'DETAILS') target.open = true;
}
addEventListener('hashchange', reveal);
reveal();
