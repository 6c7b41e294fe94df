// The demo's room page: starts callstats.js with a tokenGenerator that asks the demo's
// token endpoint, and shows what tower-callstats did. Plain ES2017, no build step.
//
// For tests (and the curious): window.callstatsResult is what callstats.initialize()
// reported, window.tokenRequests one {status, error} per POST /getToken.
'use strict';

window.callstatsResult = null; // set by the initialize callback
window.tokenRequests = []; // what POST /getToken answered, for tests and curiosity

(function () {
  var config = window.CALLSTATS_CONFIG;
  var page = window.DEMO_PAGE;
  var $ = function (id) { return document.getElementById(id); };
  var shown = { jwt: null, seq: 0, exp: 0 }; // the token the page shows
  var previousConference = null;

  function log(line) {
    $('log').textContent += new Date().toLocaleTimeString() + '  ' + line + '\n';
  }

  function setText(id, text) { $(id).textContent = text; }

  // --- dates ---------------------------------------------------------------------------

  function localTime(seconds) {
    return new Date(seconds * 1000).toLocaleString();
  }
  function duration(seconds) {
    var s = Math.abs(Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ' h ' : '') + (h || m ? m + ' min ' : '') + r + ' s';
  }
  function timeLine(id, seconds) {
    setText(id, localTime(seconds) + ' (' + seconds + ')');
  }

  // --- the identifiers the server put into the page ----------------------------------------

  function showIdentifiers() {
    var local = config.localUserID;
    if (local && typeof local === 'object') {
      document.querySelectorAll('.object-form').forEach(function (el) { el.hidden = false; });
      setText('user-name', local.userName);
      setText('alias-name', local.aliasName);
      setText('user-note', 'the alias (object form): callstats.initialize() gets {userName, aliasName}');
    }
    setText('app-id', config.appID);
    setText('key-id', config.keyID);
    var call = $('call');
    if (page.mode === 'per-call') {
      $('room-mode-note').hidden = true;
      call.textContent = '';
      var started = document.createElement('span');
      started.textContent = config.callStartedAt
        ? 'started ' + localTime(config.callStartedAt) + ' (callStartedAt ' + config.callStartedAt + '). '
        : '';
      call.appendChild(started);
      call.appendChild(document.createTextNode(
        'One conferenceID per call: the same for everyone in this room until the call ends ' +
        '(the End button below, or 2 hours without anyone joining); the next call gets a new one.'));
      try { previousConference = sessionStorage.getItem('ended:' + page.room); } catch (e) { /* storage off */ }
      if (previousConference && previousConference !== config.conferenceID) {
        var ended = document.createElement('p');
        ended.className = 'notice';
        ended.id = 'call-ended';
        ended.textContent = 'The call ' + previousConference + ' ended; this page joined a new call.';
        call.appendChild(ended);
        try { sessionStorage.removeItem('ended:' + page.room); } catch (e) { /* storage off */ }
      }
    } else {
      $('end-call-form').hidden = true;
      $('room-mode-note').hidden = false;
      call.textContent = 'The room name itself (CALLSTATS_CONFERENCE=room): the same for every call ever held in this room.';
    }
  }

  // --- the token -------------------------------------------------------------------------

  function b64urlBytes(text) {
    var b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    var binary = atob(b64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }
  function b64urlJson(text) {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b64urlBytes(text)));
  }

  function setVerify(state, text) {
    var el = $('verify');
    el.dataset.state = state;
    el.textContent = text;
  }

  function check(ok, text) {
    var li = document.createElement('li');
    li.className = ok ? 'ok' : 'bad';
    li.textContent = (ok ? '✓ ' : '✗ ') + text;
    $('checks').appendChild(li);
  }

  // Verifies the ES256 signature in this browser against the demo's published keys.
  async function verify(jwt) {
    var parts = jwt.split('.');
    var header = b64urlJson(parts[0]);
    if (!window.isSecureContext || !window.crypto || !crypto.subtle) {
      throw new Error('WebCrypto needs a secure context: open the demo on http://127.0.0.1 or http://localhost (or https)');
    }
    if (header.alg !== 'ES256') return { ok: false, why: 'alg is ' + header.alg + ', not ES256' };
    var response = await fetch('/.well-known/jwks.json', { cache: 'no-store' });
    var jwks = await response.json();
    var jwk = (jwks.keys || []).find(function (k) { return k.kid === header.kid; });
    if (!jwk) return { ok: false, why: 'no key with kid ' + JSON.stringify(header.kid) + ' in /.well-known/jwks.json' };
    var key = await crypto.subtle.importKey(
      'jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
      { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
    // A JWS ES256 signature is r || s, 64 bytes: what WebCrypto's ECDSA takes.
    var signature = b64urlBytes(parts[2]);
    var signed = new TextEncoder().encode(parts[0] + '.' + parts[1]);
    var ok = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, signature, signed);
    return { ok: ok, kid: header.kid, why: ok ? '' : 'the signature does not match key ' + header.kid };
  }

  function showToken(json, source) {
    var jwt = json.token;
    var seq = ++shown.seq;
    shown.jwt = jwt;
    var parts = jwt.split('.');
    var header, claims;
    try {
      header = b64urlJson(parts[0]);
      claims = b64urlJson(parts[1]);
    } catch (e) {
      setVerify('invalid', '✗ not a JWT: ' + e.message);
      return;
    }
    shown.exp = claims.exp;
    setText('token-source', source + ', ' + new Date().toLocaleTimeString());
    setText('token-header', JSON.stringify(header, null, 2));
    setText('token-claims', JSON.stringify(claims, null, 2));
    setText('token-raw', jwt);
    timeLine('iat', claims.iat);
    timeLine('nbf', claims.nbf);
    timeLine('exp', claims.exp);
    setText('jti', claims.jti);
    if (json.conferenceID && json.conferenceID !== config.conferenceID) {
      log('note: /getToken answered for conferenceID ' + json.conferenceID + ', the page has ' + config.conferenceID);
    }
    tick();
    $('checks').textContent = '';
    setVerify('pending', 'Checking the ES256 signature in this browser…');
    verify(jwt).then(function (result) {
      if (seq !== shown.seq) return; // a newer token is on the page
      var now = Date.now() / 1000;
      if (result.ok) {
        setVerify('valid', '✓ valid: the ES256 signature verifies in this browser (WebCrypto) with key ' +
          JSON.stringify(result.kid) + ' from /.well-known/jwks.json');
      } else {
        setVerify('invalid', '✗ invalid: ' + result.why);
      }
      check(claims.appID === config.appID, 'appID is this page\'s appID (' + config.appID + ')');
      check(claims.userID === config.userID, 'userID is this page\'s userID');
      check(claims.keyID === header.kid, 'keyID claim matches the header\'s kid');
      check(claims.nbf <= now + 60 && now < claims.exp, 'valid now (nbf ≤ now < exp)');
      check(!json.conferenceID || json.conferenceID === config.conferenceID,
        'the token request got this page\'s conferenceID');
    }).catch(function (e) {
      if (seq !== shown.seq) return;
      setVerify('error', '✗ could not check the signature: ' + e.message);
    });
  }

  function tick() {
    if (!shown.exp) return;
    var left = shown.exp - Date.now() / 1000;
    setText('countdown', left > 0
      ? 'expires in ' + duration(left)
      : 'expired ' + duration(left) + ' ago: ask for a new one');
  }
  setInterval(tick, 1000);

  // --- POST /getToken, as callstats.js' tokenGenerator does --------------------------------

  function requestToken(forceNew, source) {
    // The endpoint takes the room from this page's URL (the Referer); a conferenceID in
    // the body would be ignored.
    var body = { forceNew: !!forceNew };
    return fetch('/getToken', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (json) { return { status: response.status, json: json }; });
    }).then(function (r) {
      window.tokenRequests.push({ status: r.status, error: r.json.error || null });
      if (r.status === 200) {
        log('token (' + source + ') for ' + r.json.userID + ', expires ' + new Date(r.json.expiresAt * 1000).toISOString());
        showToken(r.json, source);
      } else {
        log('token request (' + source + ') failed: ' + r.status + ' ' + r.json.error);
        setVerify('error', '✗ no token: /getToken answered ' + r.status + ' ' + r.json.error);
      }
      return r;
    }, function (err) {
      window.tokenRequests.push({ status: 0, error: String(err) });
      throw err;
    });
  }

  // callstats.js calls this at once and at every re-authentication. It must call
  // callback(null, token) on success; any other first argument ends authentication.
  window.tokenGenerator = function (forceNew, callback) {
    requestToken(forceNew, 'callstats.js tokenGenerator' + (forceNew ? ', forceNew' : '')).then(function (r) {
      if (r.status === 200) {
        callback(null, r.json.token);
      } else {
        setText('status', 'token error: ' + r.json.error);
        callback(r.json.error || ('HTTP ' + r.status));
      }
    }, function (err) {
      callback(String(err));
    });
  };

  function ask(forceNew) {
    var before = shown.jwt ? b64urlJson(shown.jwt.split('.')[1]).jti : null;
    setText('answer-status', 'Asking…');
    requestToken(forceNew, 'the ' + (forceNew ? '"Ask with forceNew"' : '"Ask /getToken"') + ' button').then(function (r) {
      var status = 'HTTP ' + r.status;
      if (r.status === 200) {
        var jti = b64urlJson(r.json.token.split('.')[1]).jti;
        status += jti === before
          ? ': the same token as before (jti ' + jti + '), from the crate\'s cache' +
            (forceNew ? ' (forceNew signs again once the last signature is 10 s old)' : '')
          : ': a new token (jti ' + jti + ')';
      }
      setText('answer-status', status);
      $('answer').dataset.status = String(r.status);
      var pre = $('answer-json');
      pre.textContent = JSON.stringify(r.json, null, 2);
      pre.hidden = false;
    }, function (err) {
      setText('answer-status', 'The request failed: ' + err);
    });
  }

  $('get-token').addEventListener('click', function () { ask(false); });
  $('get-token-new').addEventListener('click', function () { ask(true); });
  $('end-call-form').addEventListener('submit', function () {
    // Remember the ended call, so that the reloaded page can say it has a new one.
    try { sessionStorage.setItem('ended:' + page.room, config.conferenceID); } catch (e) { /* storage off */ }
  });

  showIdentifiers();

  // --- callstats.js ----------------------------------------------------------------------

  window.addEventListener('load', function () {
    if (typeof window.callstats !== 'function') {
      setText('status', 'callstats.js not loaded (offline?)');
      $('offline-help').hidden = false;
      log('callstats.js did not load from ' + page.callstatsJsUrl);
      // Still show (and check) the token the page would give callstats.js.
      requestToken(false, 'this page, on load').catch(function (err) { log('token request failed: ' + err); });
      return;
    }
    var callstats = new window.callstats();
    if (config.authProxy) {
      // Testing only: send the client's authentication to a loopback mock. setProxyConfig
      // refuses to run unless window.csioproxy is true, and must come before initialize().
      // The client appends "authenticate" (and "clockSync", "generics" for the collector)
      // to these URLs, so they need a trailing slash.
      var proxy = config.authProxy.replace(/\/?$/, '/');
      window.csioproxy = true;
      callstats.setProxyConfig({ authServiceURL: proxy, collectorURL: proxy });
    }
    callstats.initialize(config.appID, window.tokenGenerator, config.localUserID, function (status, message) {
      window.callstatsResult = { status: status, message: message };
      setText('status', status + (message ? ': ' + message : ''));
      log('initialize: ' + status + ' ' + (message || ''));
    });
  });
})();
