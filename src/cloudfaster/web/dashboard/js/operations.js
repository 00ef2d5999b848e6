// Operations: their steps and progress, live through Server-Sent Events (GET /operations/{id}/events).
import {get, getAll} from './api.js';
import {errorBox, h, page, statusBadge, table, when} from './dom.js';

const ENDED = new Set(['succeeded', 'failed', 'cancelled']);

function render(panel, op) {
  const steps = op.steps || [];
  const done = steps.filter((s) => s.state === 'done' || s.state === 'succeeded' || s.state === 'skipped').length;
  const ended = ENDED.has(op.state);
  // Steps are recorded as they start, so the total is known only at the end: indeterminate until then.
  const bar = h('progress', {max: 1, value: ended ? 1 : null, 'aria-label': `Progress of ${op.kind}: ${done} steps done`});
  panel.dataset.state = op.state;
  panel.replaceChildren(
    h('p', {}, h('a', {href: `#/operations/${op.id}`}, op.kind), ' ', statusBadge(op.state),
      op.attempt > 1 ? ` (attempt ${op.attempt})` : ''),
    bar,
    h('ol', {class: 'steps'}, steps.map((s) => h('li', {'data-state': s.state}, `${s.name}: `, h('span', {class: 'step-state'}, s.state)))),
    op.error ? errorBox({message: op.error.message || JSON.stringify(op.error)}) : null,
  );
}

// A panel that follows one operation until it ends, then calls onEnd(op). The stream closes with the panel's page.
export function operationPanel(opId, onEnd) {
  const panel = h('section', {class: 'operation', 'aria-live': 'polite', 'aria-label': 'Operation progress'}, h('p', {class: 'muted'}, 'Following the operation…'));
  const source = new EventSource(`/operations/${encodeURIComponent(opId)}/events`);
  const stop = () => source.close();
  window.addEventListener('hashchange', stop, {once: true});
  source.addEventListener('operation', (event) => {
    const op = JSON.parse(event.data);
    render(panel, op);
    if (ENDED.has(op.state)) {
      stop();
      if (onEnd) onEnd(op);
    }
  });
  source.addEventListener('error', async () => {
    if (source.readyState !== EventSource.CLOSED) return;
    try { render(panel, await get(`/operations/${encodeURIComponent(opId)}`)); } catch (error) { panel.replaceChildren(errorBox(error)); }
  });
  return panel;
}

export async function operationsView() {
  const ops = (await getAll('/operations')).reverse();
  page('Operations', table('Recent operations, newest first', ['Kind', 'Target', 'State', 'Started'], ops.slice(0, 200).map((op) =>
    h('tr', {}, h('td', {}, h('a', {href: `#/operations/${op.id}`}, op.kind)), h('td', {}, `${op.target_type} ${op.target_id}`),
      h('td', {}, statusBadge(op.state)), h('td', {}, when(op.created_at))))));
}

export async function operationView(id) {
  const op = await get(`/operations/${encodeURIComponent(id)}`);
  const target = op.target_type === 'vm' ? `#/vms/${op.target_id}` : op.target_type === 'service' ? `#/services/${op.target_id}` : null;
  page(`Operation ${op.kind}`,
    h('p', {}, 'On ', target ? h('a', {href: target}, `${op.target_type} ${op.target_id}`) : `${op.target_type} ${op.target_id}`, `, started ${when(op.created_at)}.`),
    operationPanel(id));
}
