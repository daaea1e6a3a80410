// edgetrust console: the live pending queue, row selection and the copy
// button. No inline script anywhere (Content-Security-Policy
// script-src 'self'); every page works without this file, only less
// conveniently.
(function () {
  'use strict';

  // Select every row of the page at once.
  document.addEventListener('change', function (e) {
    if (e.target && e.target.id === 'select-all') {
      var boxes = document.querySelectorAll('input[name="id"]');
      for (var i = 0; i < boxes.length; i++) { boxes[i].checked = e.target.checked; }
    }
  });

  // Copy a value shown once.
  document.addEventListener('click', function (e) {
    var btn = e.target && e.target.closest ? e.target.closest('[data-copy]') : null;
    if (!btn) { return; }
    var field = document.getElementById(btn.getAttribute('data-copy'));
    var said = btn.parentNode.querySelector('.copied');
    var tell = function (msg) { if (said) { said.textContent = msg; } };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(function () { tell('Copied.'); },
        function () { field.select(); tell('Selected: press Ctrl+C to copy.'); });
    } else {
      field.select();
      tell('Selected: press Ctrl+C to copy.');
    }
  });

  // The live queue: the event stream says something changed, and the page
  // fetches its rows again (the server renders them, for what this user
  // may see). Without the stream it polls every second.
  var live = document.getElementById('queue-live');
  if (!live) { return; }
  var rowsURL = live.getAttribute('data-rows');
  var pending = null;
  var busy = false;

  function refresh() {
    pending = null;
    if (busy) { soon(); return; }
    busy = true;
    fetch(rowsURL, { credentials: 'same-origin', headers: { 'X-Requested-With': 'console' } })
      .then(function (r) {
        if (r.status === 401) { window.location.assign('/signin'); }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        busy = false;
        if (html === null) { return; }
        var checked = {};
        var boxes = live.querySelectorAll('input[name="id"]:checked');
        for (var i = 0; i < boxes.length; i++) { checked[boxes[i].value] = true; }
        var all = document.getElementById('select-all');
        var allChecked = all && all.checked;
        var focused = document.activeElement && live.contains(document.activeElement) ? document.activeElement.id : '';
        live.innerHTML = html;
        boxes = live.querySelectorAll('input[name="id"]');
        for (var j = 0; j < boxes.length; j++) { if (checked[boxes[j].value]) { boxes[j].checked = true; } }
        all = document.getElementById('select-all');
        if (all && allChecked) { all.checked = true; }
        if (focused && document.getElementById(focused)) { document.getElementById(focused).focus(); }
        var count = document.getElementById('pending-count');
        if (count) { document.title = count.getAttribute('data-title'); }
        document.body.setAttribute('data-refreshed', String(Date.now()));
      })
      .catch(function () { busy = false; });
  }

  function soon() {
    if (!pending) { pending = setTimeout(refresh, 100); }
  }

  var polling = null;
  function poll() {
    if (polling) { return; }
    document.body.setAttribute('data-live', 'poll');
    polling = setInterval(refresh, 1000);
  }

  if (!window.EventSource) { poll(); return; }
  var es = new EventSource(live.getAttribute('data-events'));
  var opened = false;
  es.addEventListener('open', function () {
    opened = true;
    document.body.setAttribute('data-live', 'stream');
    soon(); // what changed between the page and the stream
  });
  var types = ['endpoint.pending', 'endpoint.trusted', 'endpoint.rejected', 'endpoint.untrusted',
    'endpoint.deleted', 'endpoint.key_change', 'endpoint.clone_suspected'];
  for (var t = 0; t < types.length; t++) { es.addEventListener(types[t], soon); }
  es.addEventListener('message', soon);
  es.addEventListener('error', function () {
    // A stream that never opened (no stream on this broker, a proxy that
    // buffers it) is replaced by polling; one that dropped reconnects.
    if (!opened || es.readyState === EventSource.CLOSED) { es.close(); poll(); }
  });
})();
