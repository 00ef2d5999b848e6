// What both console pages share: the token from the URL fragment, the websocket address, the state line and
// the disconnect/reconnect button. A token works once: reconnecting asks the page that opened this one (the
// dashboard) for a new token via postMessage, {type: "cloudfaster-console-token", vmid, token}.

export const vmid = Number(location.pathname.split('/')[2]);
export const socketUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/console/${vmid}/ws`;
export const protocols = (token) => ['binary', `cloudfaster-token.${token}`];

export function takeToken() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  history.replaceState(null, '', location.pathname);  // the token is single-use: keep it out of history
  return token;
}

export function setState(state, text, message = '') {
  const el = document.getElementById('state');
  el.dataset.state = state;
  el.textContent = text;
  document.getElementById('message').textContent = message;
  window.consoleState = state;
}

export function setTitle(name) {
  document.getElementById('title').textContent = name;
  document.title = `${name} — console`;
}

export function wireToggle(connect, disconnect) {
  const button = document.getElementById('toggle');
  let connected = true;
  button.addEventListener('click', () => {
    if (connected) { disconnect(); return; }
    if (window.opener) {
      window.opener.postMessage({type: 'cloudfaster-console-reconnect', vmid}, '*');
      setState('connecting', 'waiting for a new console token…');
    } else {
      setState('disconnected', 'disconnected', 'Open a new console from CloudFaster to reconnect.');
    }
  });
  window.addEventListener('message', (event) => {
    const data = event.data || {};
    if (event.source === window.opener && data.type === 'cloudfaster-console-token' && data.vmid === vmid) {
      connect(data.token);
    }
  });
  return (isConnected) => {
    connected = isConnected;
    button.textContent = isConnected ? 'Disconnect' : 'Reconnect';
  };
}
