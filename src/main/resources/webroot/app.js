/*
 * callbackd console: plain JavaScript, no framework, no build step.
 *
 * The API token lives in sessionStorage (this tab only) and goes out as "Authorization: Bearer" on every /v1 call.
 * Text from the server is only ever put into the page with textContent or as attribute values: never as HTML.
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'callbackd.console.token';
  var OVERVIEW_EVERY_MS = 5000;
  var DESTINATIONS_EVERY_MS = 5000;
  var TIMELINE_FAST_MS = 1500;
  var TIMELINE_SLOW_MS = 5000;
  var PAGE_SIZE = 50;
  var HISTORY = 60;
  var OUTCOMES = ['delivered', 'failed', 'gone'];
  var VIEWS = ['overview', 'destinations', 'callbacks', 'secrets'];
  var MAX_SECRETS = 10;

  // ------------------------------------------------------------------ DOM helpers

  function $(id) {
    return document.getElementById(id);
  }

  /** Builds an element; children are nodes or strings (strings become text nodes, never markup). */
  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === null || value === undefined || value === false) {
          return;
        }
        if (key === 'className') {
          node.className = value;
        } else if (key === 'text') {
          node.textContent = String(value);
        } else if (key === 'dataset') {
          Object.keys(value).forEach(function (d) {
            node.dataset[d] = String(value[d]);
          });
        } else if (key.indexOf('on') === 0 && typeof value === 'function') {
          node.addEventListener(key.substring(2), value);
        } else {
          node.setAttribute(key, String(value));
        }
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      append(node, arguments[i]);
    }
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) {
      return;
    }
    if (Array.isArray(child)) {
      child.forEach(function (c) {
        append(node, c);
      });
    } else if (typeof child === 'object' && child.nodeType) {
      node.appendChild(child);
    } else {
      node.appendChild(document.createTextNode(String(child)));
    }
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  function setText(id, value) {
    $(id).textContent = value === null || value === undefined ? '–' : String(value);
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function badge(value, kind) {
    return el('span', {className: 'badge ' + (kind || value), text: value});
  }

  // ------------------------------------------------------------------ formatting

  function pad(n, width) {
    var s = String(n);
    while (s.length < (width || 2)) {
      s = '0' + s;
    }
    return s;
  }

  /** An ISO-8601 time in the browser's local time: "2026-11-28 09:49:16". */
  function formatTime(iso) {
    if (!iso) {
      return '–';
    }
    var d = new Date(iso);
    if (isNaN(d.getTime())) {
      return String(iso);
    }
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':'
      + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  /** Time of day for today, the date otherwise. */
  function formatShort(iso) {
    if (!iso) {
      return '–';
    }
    var d = new Date(iso);
    if (isNaN(d.getTime())) {
      return String(iso);
    }
    return d.toDateString() === new Date().toDateString() ? formatClock(d)
      : d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  }

  function formatClock(date) {
    return pad(date.getHours()) + ':' + pad(date.getMinutes()) + ':' + pad(date.getSeconds());
  }

  /** Seconds as "45 s", "4 min 5 s", "3 h 12 min", "2 d 4 h". */
  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) {
      return '–';
    }
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) {
      return s + ' s';
    }
    if (s < 3600) {
      return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    }
    if (s < 86400) {
      return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    }
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }

  function formatRate(perSecond) {
    if (perSecond === null || perSecond === undefined || isNaN(perSecond)) {
      return '–';
    }
    return perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(2);
  }

  function formatCount(n) {
    if (n === null || n === undefined || isNaN(n)) {
      return '–';
    }
    return Math.round(n).toLocaleString('en-US');
  }

  function plural(n, one, many) {
    return n + ' ' + (n === 1 ? one : many);
  }

  // ------------------------------------------------------------------ API

  function ApiError(message, status, field) {
    this.name = 'ApiError';
    this.message = message;
    this.status = status;
    this.field = field;
  }
  ApiError.prototype = Object.create(Error.prototype);

  /** Thrown after a 401 (or without a token): the sign-in form is already showing, nothing else to report. */
  function SignedOut() {
    this.name = 'SignedOut';
    this.message = 'signed out';
  }
  SignedOut.prototype = Object.create(Error.prototype);

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  async function readJson(response) {
    var type = response.headers.get('content-type') || '';
    if (type.indexOf('json') < 0) {
      return null;
    }
    try {
      return await response.json();
    } catch (e) {
      return null;
    }
  }

  function describe(status, body) {
    if (body && typeof body.error === 'string') {
      return body.error;
    }
    return 'callbackd answered HTTP ' + status;
  }

  /** Calls the /v1 API with the tab's token; resolves with the JSON body, rejects with ApiError or SignedOut. */
  async function api(method, path, body) {
    var t = token();
    if (!t) {
      signOut(null);
      throw new SignedOut();
    }
    var headers = {'authorization': 'Bearer ' + t, 'accept': 'application/json'};
    var init = {method: method, headers: headers, cache: 'no-store', credentials: 'omit'};
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    var response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError('callbackd could not be reached (' + (e && e.message ? e.message : 'network error') + ')',
        0, null);
    }
    var json = await readJson(response);
    if (response.status === 401) {
      signOut('The API refused the token: ' + describe(401, json) + '. Sign in again.');
      throw new SignedOut();
    }
    if (!response.ok) {
      throw new ApiError(describe(response.status, json), response.status, json && json.field);
    }
    return json;
  }


  function path(template) {
    var parts = Array.prototype.slice.call(arguments, 1);
    var i = 0;
    return template.replace(/\{\}/g, function () {
      return encodeURIComponent(parts[i++]);
    });
  }

  // ------------------------------------------------------------------ errors

  var errorSource = null;

  /** Shows an API error (its `error` text, and the field at fault) in the banner; `source` lets a refresh clear it. */
  function showError(what, err, source) {
    if (err instanceof SignedOut) {
      return;
    }
    var text = what + ': ' + (err && err.message ? err.message : String(err));
    if (err instanceof ApiError && err.status) {
      text += ' (HTTP ' + err.status + (err.field ? ', field ' + err.field : '') + ')';
    }
    $('error-text').textContent = text;
    errorSource = source || null;
    show($('error-banner'), true);
  }

  function clearError(source) {
    if (source === undefined || source === errorSource) {
      show($('error-banner'), false);
      $('error-text').textContent = '';
      errorSource = null;
    }
  }

  function flash(id, text) {
    var node = $(id);
    node.textContent = text;
    show(node, !!text);
  }

  // ------------------------------------------------------------------ polling

  /** Runs `task` now and then again `interval()` ms after each run ends, while started; skips hidden tabs. */
  function Poller(task, interval) {
    var timer = null;
    var round = 0;
    var wanted = false;

    function run(myRound) {
      if (!wanted || myRound !== round) {
        return;
      }
      var work = document.hidden ? Promise.resolve() : Promise.resolve().then(task);
      work.catch(function () {
      }).then(function () {
        if (wanted && myRound === round) {
          timer = setTimeout(function () {
            run(myRound);
          }, interval());
        }
      });
    }

    return {
      start: function () {
        if (!wanted) {
          wanted = true;
          round++;
          run(round);
        }
      },
      stop: function () {
        wanted = false;
        round++;
        clearTimeout(timer);
      },
      now: function () {
        if (wanted) {
          clearTimeout(timer);
          round++;
          run(round);
        }
      },
      get running() {
        return wanted;
      }
    };
  }

  // ------------------------------------------------------------------ overview

  var overview = {
    seq: 0,
    previous: null, // {at: ms}
    history: [] // {at, delivered, failed, gone} rates
  };

  /**
   * The whole deployment, whichever replica answers: GET /v1/overview reads the queue, the destination rows and the
   * last minute of history from PostgreSQL. Rates are the last minute's final outcomes per second.
   */
  async function refreshOverview() {
    var seq = ++overview.seq;
    var results;
    try {
      results = await Promise.all([api('GET', '/v1/overview'), api('GET', '/v1/destinations?limit=1000')]);
    } catch (err) {
      if (seq === overview.seq) {
        showError('Could not refresh the overview', err, 'overview');
      }
      return;
    }
    if (seq !== overview.seq) {
      return;
    }
    clearError('overview');
    var at = Date.now();
    var view = results[0] || {};
    var destinations = (results[1] && results[1].destinations) || [];
    var outcomes = view.outcomes || {};
    var window = view.window_seconds || 60;

    var rates = {at: at};
    OUTCOMES.forEach(function (o) {
      var got = outcomes[o] || {count: 0, per_second: 0};
      rates[o] = got.per_second;
      var node = $('ov-rate-' + o);
      node.textContent = formatRate(got.per_second);
      node.title = 'over the last ' + window + ' s, across the deployment';
      node.dataset.value = String(got.per_second);
      setText('ov-total-' + o, formatCount(got.count));
      $('ov-total-' + o).dataset.value = String(got.count);
    });
    overview.history.push(rates);
    while (overview.history.length > HISTORY) {
      overview.history.shift();
    }
    overview.previous = {at: at};

    setNumber('ov-pending', view.pending, formatCount);
    setNumber('ov-in-flight', view.in_flight, formatCount);
    setNumber('ov-oldest', view.oldest_due_seconds, formatDuration);
    setNumber('ov-open-breakers', view.breakers_open, formatCount);
    setNumber('ov-half-open-breakers', view.breakers_half_open, formatCount);
    setNumber('ov-paused', view.paused, formatCount);
    setNumber('ov-destinations', view.destinations, function (n) {
      return plural(n, 'destination', 'destinations');
    });
    renderAttention(destinations);
    setText('ov-updated', 'updated ' + formatClock(new Date(at)) + ' · refreshes every '
      + OVERVIEW_EVERY_MS / 1000 + ' s');
    drawChart();
  }

  /** Destinations an operator should look at: open or half-open breaker, paused, failed or piling-up callbacks. */
  function renderAttention(list) {
    var ul = $('ov-attention');
    clear(ul);
    var worth = list.filter(function (d) {
      return d.paused || (d.breaker && d.breaker !== 'closed') || d.failed > 0;
    }).sort(function (a, b) {
      return score(b) - score(a) || b.failed - a.failed || String(a.destination).localeCompare(String(b.destination));
    });
    worth.slice(0, 6).forEach(function (d) {
      var breaker = d.breaker || 'closed';
      var counts = [];
      if (d.pending) {
        counts.push(formatCount(d.pending) + ' pending');
      }
      if (d.failed) {
        counts.push(formatCount(d.failed) + ' failed');
      }
      if (d.last_error) {
        counts.push('last error: ' + d.last_error);
      }
      ul.appendChild(el('li', {dataset: {destination: d.destination}},
        el('div', {className: 'origin'},
          el('a', {href: '#destinations', text: d.destination}),
          breaker !== 'closed' ? badge('breaker ' + breaker.replace('_', '-'), breaker) : null,
          d.paused ? badge('paused', 'paused') : null),
        el('div', {className: 'detail', title: counts.join(' · ') || null, text: counts.join(' · ') || ' '})));
    });
    if (worth.length > 6) {
      ul.appendChild(el('li', {className: 'muted small', text: 'and ' + (worth.length - 6) + ' more'}));
    }
    show($('ov-attention-none'), worth.length === 0);
  }

  function score(d) {
    return (d.breaker === 'open' ? 4 : 0) + (d.breaker === 'half_open' ? 2 : 0) + (d.paused ? 1 : 0);
  }

  function setNumber(id, value, format) {
    var node = $(id);
    node.textContent = format(value);
    node.dataset.value = value === null || value === undefined ? '' : String(value);
  }

  var SVG = 'http://www.w3.org/2000/svg';

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) {
      node.setAttribute(k, String(attrs[k]));
    });
    return node;
  }

  function drawChart() {
    var chart = $('ov-chart');
    clear(chart);
    // One user unit per pixel, so that the labels are not stretched.
    var w = Math.max(200, Math.round(chart.getBoundingClientRect().width) || 1000);
    var h = 160;
    chart.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    var top = 10;
    var history = overview.history;
    var max = 0;
    history.forEach(function (r) {
      OUTCOMES.forEach(function (o) {
        max = Math.max(max, r[o]);
      });
    });
    max = niceCeiling(max);
    [0, 0.5, 1].forEach(function (f) {
      var y = top + (h - top) * (1 - f);
      chart.appendChild(svg('line', {x1: 0, x2: w, y1: y, y2: y, 'class': 'gridline'}));
    });
    var span = Math.max(history.length, 12) * OVERVIEW_EVERY_MS / 1000;
    $('ov-chart-window').textContent = formatDuration(span) + ' ago';
    var label = svg('text', {x: 6, y: top + 12, 'class': 'axis-label'});
    label.textContent = formatRate(max) + '/s';
    chart.appendChild(label);
    if (history.length < 2) {
      var waiting = svg('text', {x: w / 2 - 80, y: h / 2 + 6, 'class': 'axis-label'});
      waiting.textContent = history.length ? 'collecting readings…' : 'waiting for two readings…';
      chart.appendChild(waiting);
      return;
    }
    // The newest reading on the right; at least a minute wide, so that a few readings do not fill the chart.
    var slots = Math.max(history.length, 12);
    var step = w / (slots - 1);
    var offset = (slots - history.length) * step;
    OUTCOMES.forEach(function (o) {
      var points = history.map(function (r, i) {
        var x = offset + i * step;
        var y = top + (h - top) * (1 - (max ? r[o] / max : 0));
        return x.toFixed(1) + ',' + y.toFixed(1);
      }).join(' ');
      chart.appendChild(svg('polyline', {points: points, 'class': 'line-' + o}));
    });
  }

  function niceCeiling(v) {
    if (v <= 0) {
      return 1;
    }
    var magnitude = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (v <= steps[i] * magnitude) {
        return steps[i] * magnitude;
      }
    }
    return 10 * magnitude;
  }

  function resetOverview() {
    overview.seq++;
    overview.previous = null;
    overview.history = [];
    ['ov-pending', 'ov-in-flight', 'ov-oldest', 'ov-open-breakers', 'ov-half-open-breakers', 'ov-paused',
      'ov-destinations'].concat(OUTCOMES.map(function (o) {
      return 'ov-rate-' + o;
    }), OUTCOMES.map(function (o) {
      return 'ov-total-' + o;
    })).forEach(function (id) {
      setText(id, null);
      $(id).dataset.value = '';
    });
    setText('ov-updated', 'loading…');
    clear($('ov-chart'));
    clear($('ov-attention'));
    show($('ov-attention-none'), false);
    $('ov-chart-window').textContent = '';
  }

  // ------------------------------------------------------------------ destinations

  var destinations = {seq: 0, rendered: null, busy: {}};

  async function refreshDestinations() {
    var seq = ++destinations.seq;
    var body;
    try {
      body = await api('GET', '/v1/destinations?limit=1000');
    } catch (err) {
      if (seq === destinations.seq) {
        showError('Could not load the destinations', err, 'destinations');
      }
      return;
    }
    if (seq !== destinations.seq) {
      return;
    }
    clearError('destinations');
    var list = (body && body.destinations) || [];
    setText('dest-updated', plural(list.length, 'destination', 'destinations') + ' · updated '
      + formatClock(new Date()));
    updateDestinationSuggestions(list);
    var key = JSON.stringify(list) + JSON.stringify(destinations.busy);
    if (key === destinations.rendered) {
      return; // nothing changed: keep the rows (and whatever the operator is pointing at)
    }
    destinations.rendered = key;
    renderDestinations(list);
  }

  function renderDestinations(list) {
    var tbody = $('destinations-body');
    clear(tbody);
    show($('dest-empty'), list.length === 0);
    list.forEach(function (d) {
      var origin = d.destination;
      var busy = !!destinations.busy[origin];
      var breaker = d.breaker || 'closed';
      var row = el('tr', {dataset: {destination: origin, paused: !!d.paused, breaker: breaker}},
        el('td', {className: 'mono', title: origin, text: origin}),
        el('td', {'data-col': 'breaker'}, badge(breaker.replace('_', '-'), breaker)),
        el('td', {'data-col': 'paused', title: d.paused ? 'paused since ' + formatTime(d.paused_at) : null},
          d.paused ? badge('paused', 'paused') : badge('active', 'active')),
        el('td', {className: 'num', 'data-col': 'pending', text: formatCount(d.pending)}),
        el('td', {className: 'num', 'data-col': 'delivering', text: formatCount(d.delivering)}),
        el('td', {className: 'num', 'data-col': 'failed', text: formatCount(d.failed)}),
        el('td', {'data-col': 'last-error', className: d.last_error ? 'error-text' : 'muted',
          title: d.last_attempt_at ? (d.last_error || 'answered 2xx') + ' at ' + formatTime(d.last_attempt_at) : null,
          text: d.last_error || (d.last_attempt_at ? 'answered 2xx · ' + formatShort(d.last_attempt_at) : '–')}),
        el('td', {className: 'actions'},
          el('button', {type: 'button', className: 'small' + (d.paused ? '' : ' danger'),
            dataset: {action: d.paused ? 'resume' : 'pause'}, disabled: busy,
            onclick: function () {
              setPaused(origin, !d.paused);
            }}, d.paused ? 'Resume' : 'Pause'),
          el('button', {type: 'button', className: 'small ghost', dataset: {action: 'show-callbacks'},
            onclick: function () {
              showCallbacksOf(origin);
            }}, 'Callbacks')));
      tbody.appendChild(row);
    });
  }

  async function setPaused(origin, pause) {
    clearError();
    flash('dest-message', '');
    destinations.busy[origin] = true;
    destinations.rendered = null;
    var button = document.querySelector('#destinations-body tr[data-destination="' + cssEscape(origin)
      + '"] button[data-action]');
    if (button) {
      button.disabled = true;
    }
    try {
      await api('POST', path(pause ? '/v1/destinations/{}/pause' : '/v1/destinations/{}/resume', origin));
      flash('dest-message', pause
        ? 'Paused ' + origin + ': its callbacks wait without spending attempts.'
        : 'Resumed ' + origin + ': its callbacks go out again.');
    } catch (err) {
      showError((pause ? 'Could not pause ' : 'Could not resume ') + origin, err);
    } finally {
      delete destinations.busy[origin];
      destinations.rendered = null;
    }
    await refreshDestinations();
  }

  function cssEscape(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&');
  }

  function updateDestinationSuggestions(list) {
    var datalist = $('cb-destination-list');
    clear(datalist);
    list.forEach(function (d) {
      datalist.appendChild(el('option', {value: d.destination}));
    });
  }

  function resetDestinations() {
    destinations.seq++;
    destinations.rendered = null;
    destinations.busy = {};
    clear($('destinations-body'));
    clear($('cb-destination-list'));
    show($('dest-empty'), false);
    flash('dest-message', '');
    setText('dest-updated', 'loading…');
  }

  // ------------------------------------------------------------------ callbacks

  var callbacks = {
    seq: 0,
    filter: {state: '', destination: '', runId: ''},
    cursor: null,
    count: 0,
    searched: false,
    selected: null // {runId, id}
  };

  function readFilter() {
    return {
      state: $('cb-state').value,
      destination: $('cb-destination').value.trim(),
      runId: $('cb-run-id').value.trim()
    };
  }

  function writeFilter(filter) {
    $('cb-state').value = filter.state;
    $('cb-destination').value = filter.destination;
    $('cb-run-id').value = filter.runId;
  }

  function callbacksQuery(filter, cursor) {
    var q = new URLSearchParams();
    if (filter.state) {
      q.set('state', filter.state);
    }
    if (filter.destination) {
      q.set('destination', filter.destination);
    }
    if (filter.runId) {
      q.set('run_id', filter.runId);
    }
    q.set('limit', String(PAGE_SIZE));
    if (cursor !== null && cursor !== undefined) {
      q.set('cursor', String(cursor));
    }
    return '/v1/callbacks?' + q.toString();
  }

  async function searchCallbacks(more) {
    clearError();
    if (!more) {
      callbacks.filter = readFilter();
      callbacks.cursor = null;
      callbacks.count = 0;
      flash('cb-replay-result', '');
      hideReplayConfirm();
    }
    var seq = ++callbacks.seq;
    $('cb-search').disabled = true;
    $('cb-more').disabled = true;
    var body;
    try {
      body = await api('GET', callbacksQuery(callbacks.filter, more ? callbacks.cursor : null));
    } catch (err) {
      if (seq === callbacks.seq) {
        showError('Could not search the callbacks', err);
      }
      return;
    } finally {
      if (seq === callbacks.seq) {
        $('cb-search').disabled = false;
        $('cb-more').disabled = false;
      }
    }
    if (seq !== callbacks.seq) {
      return;
    }
    var list = (body && body.callbacks) || [];
    var tbody = $('callbacks-body');
    if (!more) {
      clear(tbody);
    }
    list.forEach(function (c) {
      tbody.appendChild(callbackRow(c));
    });
    callbacks.count += list.length;
    callbacks.cursor = body ? body.next_cursor : null;
    callbacks.searched = true;
    show($('cb-empty'), callbacks.count === 0);
    show($('cb-more'), callbacks.cursor !== null && callbacks.cursor !== undefined);
    setText('cb-summary', plural(callbacks.count, 'callback', 'callbacks') + ' shown, newest first'
      + (callbacks.cursor !== null && callbacks.cursor !== undefined ? '; more match' : ''));
    updateBulk();
    markSelected();
  }

  function lastResult(c) {
    if (c.last_error) {
      return el('span', {className: 'error-text', text: (c.last_status_code ? c.last_status_code + ' · ' : '')
          + c.last_error});
    }
    if (c.last_status_code) {
      return el('span', {text: String(c.last_status_code)});
    }
    if (c.next_attempt_at) {
      return el('span', {className: 'muted', text: 'next try ' + formatTime(c.next_attempt_at)});
    }
    return el('span', {className: 'muted', text: '–'});
  }

  function callbackRow(c) {
    var when = c.finished_at || c.last_attempt_at || c.scheduled_at;
    var resultText = (c.last_status_code ? c.last_status_code + ' ' : '') + (c.last_error || '');
    var row = el('tr', {
        tabindex: 0,
        dataset: {callbackId: c.id, runId: c.run_id, state: c.state, generation: c.generation},
        onclick: function () {
          selectRun(c.run_id, c.id);
        },
        onkeydown: function (e) {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            selectRun(c.run_id, c.id);
          }
        }
      },
      el('td', {'data-col': 'run'},
        el('div', {className: 'run-id mono', title: c.run_id, text: c.run_id}),
        el('div', {className: 'sub', title: c.url || c.destination},
          el('span', {'data-col': 'destination', text: c.destination}), ' · generation ' + c.generation)),
      el('td', {'data-col': 'state'}, badge(c.state)),
      el('td', {className: 'num', 'data-col': 'attempts', text: c.attempts}),
      el('td', {'data-col': 'result', title: resultText || null}, lastResult(c)),
      el('td', {'data-col': 'when', title: when ? formatTime(when) + ' (' + when + ')' : null, text: formatShort(when)}));
    return row;
  }

  function markSelected() {
    var rows = $('callbacks-body').querySelectorAll('tr');
    Array.prototype.forEach.call(rows, function (row) {
      var on = !!callbacks.selected && row.dataset.runId === callbacks.selected.runId;
      row.classList.toggle('selected', on);
    });
  }

  function updateBulk() {
    var failed = callbacks.searched && callbacks.filter.state === 'failed';
    show($('cb-bulk'), failed);
    if (failed) {
      $('cb-bulk-text').textContent = callbacks.filter.destination
        ? 'Failed callbacks to ' + callbacks.filter.destination + ' can be delivered again.'
        : 'Failed callbacks to every destination can be delivered again.';
    }
  }

  function hideReplayConfirm() {
    show($('cb-replay-confirm'), false);
    $('cb-replay-failed').disabled = false;
  }

  function askReplay() {
    clearError();
    flash('cb-replay-result', '');
    $('cb-replay-question').textContent = callbacks.filter.destination
      ? 'Replay every failed callback to ' + callbacks.filter.destination + '?'
      : 'Replay every failed callback, to every destination?';
    $('cb-replay-failed').disabled = true;
    show($('cb-replay-confirm'), true);
  }

  async function replayFailed() {
    var body = {state: 'failed'};
    if (callbacks.filter.destination) {
      body.destination = callbacks.filter.destination;
    }
    $('cb-replay-confirm-yes').disabled = true;
    try {
      var result = await api('POST', '/v1/callbacks/redeliver', body);
      var n = result && typeof result.redelivered === 'number' ? result.redelivered : 0;
      var rate = result && result.per_second_per_destination;
      flash('cb-replay-result', 'Redelivered ' + plural(n, 'failed callback', 'failed callbacks')
        + (body.destination ? ' to ' + body.destination : '')
        + (n > 0 && rate ? ', spread at ' + rate + ' per second per destination.' : '.'));
      $('cb-replay-result').dataset.redelivered = String(n);
      if (callbacks.selected) {
        timelinePoller.now();
      }
    } catch (err) {
      showError('Could not replay the failed callbacks', err);
    } finally {
      $('cb-replay-confirm-yes').disabled = false;
      hideReplayConfirm();
    }
  }

  function resetFilter() {
    writeFilter({state: '', destination: '', runId: ''});
    searchCallbacks(false);
  }

  function showCallbacksOf(origin) {
    writeFilter({state: '', destination: origin, runId: ''});
    location.hash = '#callbacks';
    searchCallbacks(false);
  }

  // ---- the attempt timeline of one run

  var timeline = {seq: 0, rendered: null, callback: null, busy: false};

  function selectRun(runId, callbackId) {
    callbacks.selected = {runId: runId, id: callbackId};
    timeline.rendered = null;
    timeline.callback = null;
    $('timeline-run-id').textContent = runId;
    flash('timeline-message', '');
    clear($('timeline-attempts'));
    clear($('timeline-callback'));
    show($('timeline-empty'), false);
    setButtons(null);
    show($('timeline'), true);
    markSelected();
    timelinePoller.stop();
    timelinePoller.start();
  }

  function closeTimeline() {
    callbacks.selected = null;
    timelinePoller.stop();
    timeline.seq++;
    show($('timeline'), false);
    clear($('timeline-attempts'));
    clear($('timeline-callback'));
    $('timeline-run-id').textContent = '';
    markSelected();
  }

  async function refreshTimeline() {
    if (!callbacks.selected) {
      return;
    }
    var runId = callbacks.selected.runId;
    var seq = ++timeline.seq;
    var body;
    try {
      body = await api('GET', path('/v1/runs/{}/attempts', runId));
    } catch (err) {
      if (seq === timeline.seq) {
        showError('Could not load the attempts of run ' + runId, err, 'timeline');
      }
      return;
    }
    if (seq !== timeline.seq || !callbacks.selected || callbacks.selected.runId !== runId) {
      return;
    }
    clearError('timeline');
    setText('timeline-updated', 'updated ' + formatClock(new Date()));
    timeline.callback = body.callback || null;
    setButtons(timeline.callback);
    var key = JSON.stringify(body);
    if (key === timeline.rendered) {
      return;
    }
    timeline.rendered = key;
    renderCallbackFacts(timeline.callback);
    renderAttempts(body.attempts || []);
  }

  function renderCallbackFacts(cb) {
    var dl = $('timeline-callback');
    clear(dl);
    if (!cb) {
      dl.appendChild(el('dt', {text: 'Callback'}));
      dl.appendChild(el('dd', {text: 'none: the run has no callback'}));
      return;
    }
    var facts = [
      ['State', badge(cb.state)],
      ['Generation', String(cb.generation)],
      ['Attempts', String(cb.attempts)],
      ['Webhook id', el('span', {className: 'mono', text: cb.webhook_id || '–'})]
    ];
    if (cb.next_attempt_at) {
      facts.push(['Next attempt', formatTime(cb.next_attempt_at)]);
    }
    if (cb.finished_at) {
      facts.push(['Finished', formatTime(cb.finished_at)]);
    }
    if (cb.last_error) {
      facts.push(['Last error', el('span', {className: 'error-text', text: cb.last_error})]);
    }
    facts.forEach(function (f) {
      dl.appendChild(el('dt', {text: f[0]}));
      dl.appendChild(el('dd', {dataset: {fact: f[0].toLowerCase().replace(/ /g, '-')}}, f[1]));
    });
    $('timeline').dataset.state = cb.state;
  }

  function renderAttempts(attempts) {
    var list = $('timeline-attempts');
    clear(list);
    show($('timeline-empty'), attempts.length === 0);
    var generation = null;
    attempts.forEach(function (a) {
      var ok = a.status_code >= 200 && a.status_code < 300;
      var first = a.generation !== generation;
      generation = a.generation;
      var status = a.status_code == null
        ? badge('no response', 'sfail')
        : badge(String(a.status_code), ok ? 's2xx' : 'sfail');
      list.appendChild(el('li', {
          className: (ok ? 'ok' : 'bad') + (first ? ' generation-start' : ''),
          dataset: {attempt: a.attempt, generation: a.generation, status: a.status_code == null ? '' : a.status_code}
        },
        first ? el('div', {className: 'generation-label'}, el('strong', {text: 'Generation ' + a.generation}),
          a.webhook_id ? el('span', {className: 'mono', text: ' · ' + a.webhook_id}) : null) : null,
        el('div', {className: 'attempt-head'},
          el('strong', {text: 'Attempt ' + a.attempt}),
          status,
          el('span', {className: 'muted', text: a.duration_ms === null || a.duration_ms === undefined
              ? '' : a.duration_ms + ' ms'}),
          el('span', {className: 'when', title: a.started_at, text: formatTime(a.started_at)})),
        a.error ? el('div', {className: 'attempt-error', 'data-col': 'error', text: a.error}) : null,
        a.request_headers ? el('pre', {className: 'attempt-headers', 'data-col': 'headers',
          title: 'what the receiver got (the signature left out)', text: headerLines(a.request_headers)}) : null,
        a.response_excerpt ? el('pre', {className: 'attempt-excerpt', 'data-col': 'excerpt',
          text: a.response_excerpt}) : null));
    });
  }

  /** The request's headers as the receiver read them, one "name: value" per line. */
  function headerLines(headers) {
    return Object.keys(headers).map(function (name) {
      return name + ': ' + headers[name];
    }).join('\n');
  }

  function setButtons(cb) {
    var state = cb ? cb.state : null;
    $('timeline-redeliver').disabled = timeline.busy
      || !(state === 'delivered' || state === 'failed' || state === 'cancelled');
    $('timeline-cancel').disabled = timeline.busy || !(state === 'pending' || state === 'delivering');
  }

  async function timelineAction(action) {
    if (!callbacks.selected) {
      return;
    }
    var runId = callbacks.selected.runId;
    clearError();
    flash('timeline-message', '');
    timeline.busy = true;
    setButtons(timeline.callback);
    try {
      var cb = await api('POST', path(action === 'redeliver' ? '/v1/runs/{}/callback/redeliver'
        : '/v1/runs/{}/callback/cancel', runId));
      flash('timeline-message', action === 'redeliver'
        ? 'Redelivery scheduled: generation ' + (cb && cb.generation) + ', webhook id ' + (cb && cb.webhook_id) + '.'
        : 'Cancelled: callbackd stops trying this callback.');
    } catch (err) {
      showError(action === 'redeliver' ? 'Could not redeliver the callback of run ' + runId
        : 'Could not cancel the callback of run ' + runId, err);
    } finally {
      timeline.busy = false;
    }
    timelinePoller.now();
  }

  function timelineInterval() {
    var state = timeline.callback && timeline.callback.state;
    return state === 'pending' || state === 'delivering' ? TIMELINE_FAST_MS : TIMELINE_SLOW_MS;
  }

  function resetCallbacks() {
    callbacks.seq++;
    callbacks.cursor = null;
    callbacks.count = 0;
    callbacks.searched = false;
    closeTimeline();
    clear($('callbacks-body'));
    show($('cb-empty'), false);
    show($('cb-more'), false);
    show($('cb-bulk'), false);
    flash('cb-replay-result', '');
    setText('cb-summary', '');
    writeFilter({state: '', destination: '', runId: ''});
  }

  // ------------------------------------------------------------------ views, sign-in

  var overviewPoller = new Poller(refreshOverview, function () {
    return OVERVIEW_EVERY_MS;
  });
  // ------------------------------------------------------------------ signing secrets

  var secrets = {seq: 0, org: null};

  function secretsPath(org) {
    return path('/v1/organizations/{}/signing-secrets', org);
  }

  /** Shows the organization's fingerprints (GET); a 404 means it has none of its own. */
  async function showSecrets(org) {
    var seq = ++secrets.seq;
    secrets.org = org;
    hideRemoveConfirm();
    var body = null;
    try {
      body = await api('GET', secretsPath(org));
    } catch (err) {
      if (seq !== secrets.seq) {
        return;
      }
      if (!(err instanceof ApiError) || err.status !== 404) {
        show($('sec-panel'), false);
        showError('Could not read the signing secrets of ' + org, err, 'secrets');
        return;
      }
    }
    if (seq !== secrets.seq) {
      return;
    }
    clearError('secrets');
    renderSecrets(org, body ? body.secrets || [] : []);
  }

  function renderSecrets(org, list) {
    $('sec-org-shown').textContent = org;
    var tbody = $('sec-body');
    clear(tbody);
    list.forEach(function (s, i) {
      tbody.appendChild(el('tr', {dataset: {fingerprint: s.fingerprint}},
        el('td', {className: 'num', text: String(i + 1)}),
        el('td', {className: 'mono', text: s.fingerprint}),
        el('td', {title: s.added_at, text: formatTime(s.added_at)})));
    });
    show($('sec-table'), list.length > 0);
    show($('sec-none'), list.length === 0);
    $('sec-remove').disabled = list.length === 0;
    show($('sec-panel'), true);
  }

  function lookupSecrets(event) {
    event.preventDefault();
    flash('sec-message', '');
    var org = $('sec-org').value.trim();
    if (!org) {
      showError('Signing secrets', new ApiError('enter an organization id', 0, 'organization_id'), 'secrets');
      return;
    }
    $('sec-input').value = '';
    showSecrets(org);
  }

  /** A Standard Webhooks secret made in this browser: whsec_ and the base64 of 32 random bytes. */
  function generateSecret() {
    var bytes = new Uint8Array(32);
    window.crypto.getRandomValues(bytes);
    var binary = '';
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return 'whsec_' + btoa(binary);
  }

  function addGeneratedSecret() {
    var input = $('sec-input');
    var current = input.value.trim();
    input.value = generateSecret() + (current ? '\n' + current : '');
  }

  async function saveSecrets(event) {
    event.preventDefault();
    var org = secrets.org;
    if (!org) {
      return;
    }
    var list = $('sec-input').value.split(/\r?\n/).map(function (line) {
      return line.trim();
    }).filter(function (line) {
      return line.length > 0;
    });
    if (list.length === 0 || list.length > MAX_SECRETS) {
      showError('Could not save the signing secrets of ' + org,
        new ApiError('give 1 to ' + MAX_SECRETS + ' secrets, one per line, newest first', 0, 'secrets'), 'secrets');
      return;
    }
    $('sec-save').disabled = true;
    try {
      var body = await api('PUT', secretsPath(org), {secrets: list});
      if (org !== secrets.org) {
        return;
      }
      // The secrets leave the page once stored: only fingerprints are shown from now on.
      $('sec-input').value = '';
      clearError('secrets');
      renderSecrets(org, body.secrets || []);
      flash('sec-message', 'Saved: ' + plural((body.secrets || []).length, 'secret', 'secrets') + ' for ' + org
        + '. Its callbacks are signed with ' + ((body.secrets || []).length > 1 ? 'each of them' : 'it') + ' from now on.');
    } catch (err) {
      showError('Could not save the signing secrets of ' + org, err, 'secrets');
    } finally {
      $('sec-save').disabled = false;
    }
  }

  function askRemove() {
    show($('sec-remove-confirm'), true);
    $('sec-remove').disabled = true;
  }

  function hideRemoveConfirm() {
    show($('sec-remove-confirm'), false);
    $('sec-remove').disabled = false;
  }

  async function removeSecrets() {
    var org = secrets.org;
    show($('sec-remove-confirm'), false);
    try {
      await api('DELETE', secretsPath(org));
      flash('sec-message', 'Removed the signing secrets of ' + org + ': its callbacks are signed with '
        + 'CALLBACKD_SIGNING_SECRETS again.');
      clearError('secrets');
      if (org === secrets.org) {
        renderSecrets(org, []);
      }
    } catch (err) {
      hideRemoveConfirm();
      showError('Could not remove the signing secrets of ' + org, err, 'secrets');
    }
  }

  function resetSecrets() {
    secrets.seq++;
    secrets.org = null;
    $('sec-org').value = '';
    $('sec-input').value = '';
    clear($('sec-body'));
    show($('sec-panel'), false);
    show($('sec-remove-confirm'), false);
    flash('sec-message', '');
  }

  var destinationsPoller = new Poller(refreshDestinations, function () {
    return DESTINATIONS_EVERY_MS;
  });
  var timelinePoller = new Poller(refreshTimeline, timelineInterval);
  var currentView = null;

  function viewFromHash() {
    var name = (location.hash || '').replace(/^#/, '');
    return VIEWS.indexOf(name) >= 0 ? name : 'overview';
  }

  function showView(name) {
    if (!token()) {
      return;
    }
    if (currentView !== name) {
      clearError();
    }
    currentView = name;
    VIEWS.forEach(function (v) {
      show($('view-' + v), v === name);
      $('tab-' + v).setAttribute('aria-selected', String(v === name));
    });
    document.title = name.charAt(0).toUpperCase() + name.substring(1) + ' · callbackd console';
    if (name === 'overview') {
      overviewPoller.start();
    } else {
      overviewPoller.stop();
    }
    if (name === 'destinations') {
      destinationsPoller.start();
    } else {
      destinationsPoller.stop();
    }
    if (name === 'callbacks') {
      if (!callbacks.searched) {
        searchCallbacks(false);
        refreshDestinations(); // fills the destination suggestions
      }
      if (callbacks.selected) {
        timelinePoller.start();
      }
    } else {
      timelinePoller.stop();
    }
  }

  function stopAll() {
    overviewPoller.stop();
    destinationsPoller.stop();
    timelinePoller.stop();
  }

  /** Forgets the token and every piece of data on the page; shows the sign-in form (with `message`, if any). */
  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    stopAll();
    currentView = null;
    resetOverview();
    resetDestinations();
    resetCallbacks();
    resetSecrets();
    clearError();
    show($('app'), false);
    show($('login-view'), true);
    var msg = $('login-message');
    msg.textContent = message || '';
    show(msg, !!message);
    $('login-token').value = '';
    $('login-submit').disabled = false;
    $('login-token').focus();
  }

  function showApp() {
    show($('login-view'), false);
    show($('app'), true);
    showView(viewFromHash());
  }

  async function signIn(event) {
    event.preventDefault();
    var candidate = $('login-token').value.trim();
    var msg = $('login-message');
    if (!candidate) {
      msg.textContent = 'Enter an API token.';
      show(msg, true);
      return;
    }
    $('login-submit').disabled = true;
    show(msg, false);
    try {
      // Checks the token on a cheap authenticated route before keeping it.
      var response = await fetch('/v1/destinations?limit=1', {
        headers: {'authorization': 'Bearer ' + candidate, 'accept': 'application/json'},
        cache: 'no-store',
        credentials: 'omit'
      });
      var json = await readJson(response);
      if (!response.ok) {
        msg.textContent = response.status === 401
          ? 'The API refused this token: ' + describe(401, json) + '.'
          : 'callbackd answered HTTP ' + response.status + ': ' + describe(response.status, json);
        show(msg, true);
        return;
      }
    } catch (e) {
      msg.textContent = 'callbackd could not be reached.';
      show(msg, true);
      return;
    } finally {
      $('login-submit').disabled = false;
    }
    sessionStorage.setItem(TOKEN_KEY, candidate);
    $('login-token').value = '';
    showApp();
  }

  function init() {
    $('login-form').addEventListener('submit', signIn);
    $('logout').addEventListener('click', function () {
      signOut(null);
    });
    $('error-dismiss').addEventListener('click', function () {
      clearError();
    });
    $('dest-refresh').addEventListener('click', function () {
      clearError();
      destinationsPoller.now();
    });
    $('cb-filter').addEventListener('submit', function (e) {
      e.preventDefault();
      searchCallbacks(false);
    });
    $('cb-reset').addEventListener('click', resetFilter);
    $('cb-more').addEventListener('click', function () {
      searchCallbacks(true);
    });
    $('cb-replay-failed').addEventListener('click', askReplay);
    $('cb-replay-confirm-yes').addEventListener('click', replayFailed);
    $('cb-replay-confirm-no').addEventListener('click', hideReplayConfirm);
    $('timeline-close').addEventListener('click', closeTimeline);
    $('sec-lookup').addEventListener('submit', lookupSecrets);
    $('sec-form').addEventListener('submit', saveSecrets);
    $('sec-generate').addEventListener('click', addGeneratedSecret);
    $('sec-remove').addEventListener('click', askRemove);
    $('sec-remove-yes').addEventListener('click', removeSecrets);
    $('sec-remove-no').addEventListener('click', hideRemoveConfirm);
    $('timeline-redeliver').addEventListener('click', function () {
      timelineAction('redeliver');
    });
    $('timeline-cancel').addEventListener('click', function () {
      timelineAction('cancel');
    });
    window.addEventListener('resize', function () {
      if (currentView === 'overview') {
        drawChart();
      }
    });
    window.addEventListener('hashchange', function () {
      if (token()) {
        showView(viewFromHash());
      }
    });
    document.addEventListener('visibilitychange', function () {
      if (!document.hidden) {
        [overviewPoller, destinationsPoller, timelinePoller].forEach(function (p) {
          p.now();
        });
      }
    });
    if (token()) {
      showApp();
    } else {
      signOut(null);
    }
  }

  // For the browser test: the pure helpers, nothing that holds data.
  window.callbackdConsole = Object.freeze({
    formatDuration: formatDuration
  });

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
