import RFB from '/console/assets/novnc/core/rfb.js';
import { protocols, setState, setTitle, socketUrl, takeToken, vmid, wireToggle } from './session.js';

const screen = document.getElementById('screen');
const cad = document.getElementById('ctrl-alt-del');
let rfb = null;
setTitle(`VM ${vmid}`);

function connect(token) {
  if (!token) {
    setState('failed', 'no console token', 'Open this console from CloudFaster.');
    showConnected(false);
    return;
  }
  setState('connecting', 'connecting…');
  rfb = new RFB(screen, socketUrl, { wsProtocols: protocols(token) });
  rfb.scaleViewport = true;
  rfb.focusOnClick = true;
  window.rfb = rfb;
  rfb.addEventListener('connect', () => {
    setState('connected', 'connected');
    showConnected(true);
    cad.disabled = false;
    rfb.focus();
  });
  rfb.addEventListener('desktopname', (e) => setTitle(`${e.detail.name} (VM ${vmid})`));
  rfb.addEventListener('securityfailure', (e) => setState('failed', 'refused', e.detail.reason || ''));
  rfb.addEventListener('disconnect', (e) => {
    cad.disabled = true;
    showConnected(false);
    if (window.consoleState !== 'failed') {
      setState(e.detail.clean ? 'disconnected' : 'failed', e.detail.clean ? 'disconnected' : 'connection lost');
    }
    rfb = null;
  });
}

const showConnected = wireToggle(connect, () => rfb && rfb.disconnect());
cad.addEventListener('click', () => rfb && rfb.sendCtrlAltDel());
connect(takeToken());
