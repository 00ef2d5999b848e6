import { Terminal } from '/console/assets/xterm/lib/xterm.mjs';
import { FitAddon } from '/console/assets/xterm-fit/lib/addon-fit.mjs';
import { protocols, setState, setTitle, socketUrl, takeToken, vmid, wireToggle } from './session.js';

// termproxy's client frames (pve-xtermjs): 0:<bytes>:<data> input, 1:<cols>:<rows>: resize, 2 ping.
const encoder = new TextEncoder();
const term = new Terminal({ cursorBlink: true, convertEol: false });
const fit = new FitAddon();
term.loadAddon(fit);
term.open(document.getElementById('screen'));
fit.fit();
window.term = term;
setTitle(`VM ${vmid} — serial console`);
let socket = null;
let ping = null;

function connect(token) {
  if (!token) {
    setState('failed', 'no console token', 'Open this console from CloudFaster.');
    showConnected(false);
    return;
  }
  setState('connecting', 'connecting…');
  socket = new WebSocket(socketUrl, protocols(token));
  socket.binaryType = 'arraybuffer';
  socket.onopen = () => {
    setState('connected', 'connected');
    showConnected(true);
    socket.send(`1:${term.cols}:${term.rows}:`);
    ping = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send('2'), 30000);
    term.focus();
  };
  socket.onmessage = (event) => term.write(new Uint8Array(event.data));
  socket.onclose = (event) => {
    clearInterval(ping);
    showConnected(false);
    setState(event.wasClean ? 'disconnected' : 'failed', event.wasClean ? 'disconnected' : 'connection refused');
    socket = null;
  };
}

term.onData((data) => socket && socket.send(`0:${encoder.encode(data).length}:${data}`));
term.onResize(({ cols, rows }) => socket && socket.send(`1:${cols}:${rows}:`));
window.addEventListener('resize', () => fit.fit());
const showConnected = wireToggle(connect, () => socket && socket.close());
connect(takeToken());
