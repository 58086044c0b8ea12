// The web app: every call goes through api() with the key; every text from the server,
// the files or the model is put on the page with textContent, never as markup.
"use strict";

(function () {
  var KEY = "chronicon-key";
  var needsKey = document.body.dataset.keyRequired === "yes";
  var state = { video: null, turns: [], asking: null, job: null, end: null };
  var timing = { opened: null };
  window.chronicon = { timing: timing };

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
  }
  function short(text, most) {
    text = String(text);
    return text.length > most ? text.slice(0, most - 1) + "…" : text;
  }
  function key() { return sessionStorage.getItem(KEY) || ""; }

  // ---- the connection: the key on every call, a message and retries when it drops ----
  var banner = $("banner"), down = false;
  function showDown(message) {
    down = true;
    banner.textContent = message;
    banner.hidden = false;
  }
  function showUp() {
    if (!down) return;
    down = false;
    banner.hidden = true;
    $("status").textContent = "connected";
  }

  function api(path, options) {
    options = options || {};
    if (needsKey && !key()) {
      showLogin();
      return Promise.reject(new Error("log in first"));
    }
    var headers = Object.assign({}, options.headers || {});
    if (key()) headers["Authorization"] = "Bearer " + key();
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.json);
    }
    return fetch(path, { method: options.method || "GET", headers: headers, body: options.body,
                         signal: options.signal }).then(function (response) {
      showUp();
      if (response.status === 401) { sessionStorage.removeItem(KEY); showLogin(); }
      return response;
    }, function (error) {
      if (error.name !== "AbortError") watchConnection();
      throw error;
    });
  }

  async function failure(response) {
    try {
      var body = await response.json();
      return (body.error && body.error.message) || response.statusText;
    } catch (e) {
      return response.status + " " + response.statusText;
    }
  }

  // The health check is open, but it carries the key too: no call leaves without it.
  function health() {
    return fetch("/health", { headers: key() ? { Authorization: "Bearer " + key() } : {} });
  }

  var watching = false;
  function watchConnection() {
    if (watching) return;
    watching = true;
    var tries = 0;
    showDown("The connection to the server was lost; retrying…");
    (function again() {
      tries += 1;
      health().then(function () {
        watching = false;
        showUp();
        loadVideos();
      }, function () {
        showDown("The connection to the server was lost; retrying (attempt " + tries + ")…");
        setTimeout(again, Math.min(8000, 500 * Math.pow(2, Math.min(tries, 4))));
      });
    })();
  }

  // ---- login ----
  function showLogin() {
    $("app").hidden = true;
    $("login").hidden = false;
    $("logout").hidden = true;
    $("key").focus();
  }
  async function startApp() {
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = !needsKey;
    if (needsKey) {
      // The player and the frame images cannot send the key: a session cookie lets them in.
      var response = await api("/app/session", { method: "POST", json: { key: key() } });
      if (!response.ok) return;
    }
    $("status").textContent = "connected";
    loadVideos();
  }
  $("login").addEventListener("submit", async function (event) {
    event.preventDefault();
    var given = $("key").value;
    var response = await fetch("/app/session", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ key: given }) });
    if (!response.ok) {
      $("login-error").textContent = await failure(response);
      return;
    }
    sessionStorage.setItem(KEY, given);
    $("key").value = "";
    $("login-error").textContent = "";
    startApp();
  });
  $("logout").addEventListener("click", function () {
    sessionStorage.removeItem(KEY);
    showLogin();
  });

  // ---- videos and the player ----
  var player = $("player"), videos = [];
  async function loadVideos() {
    var response = await api("/v1/videos");
    if (!response.ok) { $("status").textContent = await failure(response); return; }
    videos = (await response.json()).data;
    var list = $("videos");
    list.replaceChildren();
    if (!videos.length) list.append(el("li", "No video under the server's media roots.", "note"));
    videos.forEach(function (video) {
      var button = el("button", null, "video");
      button.type = "button";
      button.append(el("span", video.name, "name"));
      var facts = video.duration_s === null ? "unreadable" : clock(video.duration_s);
      if (video.cached) facts += " · cached";
      if (video.described) facts += " · " + video.described + " moments";
      if (!video.playable) {
        facts += " · not under a media root";
        button.disabled = true;
      }
      button.append(el("span", facts, "facts"));
      button.addEventListener("click", function () {
        openVideo(video);
        player.play().catch(function () {});
      });
      var item = el("li");
      item.append(button);
      list.append(item);
    });
  }

  function openVideo(video, then) {
    if (!state.video || state.video.path !== video.path) {
      state.video = video;
      state.turns = [];
      $("turns").replaceChildren();
      $("strip").replaceChildren();
      $("timeline").replaceChildren();
      $("ranked").replaceChildren();
      $("job").textContent = "";
      $("title").textContent = video.name;
      timing.opened = performance.now();
      player.src = "/v1/media?path=" + encodeURIComponent(video.path);
    }
    if (then) then();
  }
  player.addEventListener("playing", function () {
    if (timing.opened !== null && timing.open_to_play_ms === undefined) {
      timing.open_to_play_ms = performance.now() - timing.opened;
      timing.page_to_play_ms = performance.now();  // since the page began to load
    }
  });
  function play(start, end, label) {
    state.end = end;
    var go = function () {
      player.currentTime = start;
      player.play().catch(function () {});
      $("playing").textContent = "playing " + short(label, 120);
    };
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
  }
  player.addEventListener("timeupdate", function () {
    if (state.end !== null && player.currentTime >= state.end) { player.pause(); state.end = null; }
  });
  function seekButton(label, start, end, cls) {
    var button = el("button", label, cls);
    button.type = "button";
    button.addEventListener("click", function () { play(start, end, label); });
    return button;
  }

  // Server-sent events of JSON, each handed to `each` as it arrives, until [DONE].
  async function readEvents(response, each) {
    var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
    for (;;) {
      var part = await reader.read();
      if (part.done) return;
      buffer += decoder.decode(part.value, { stream: true });
      var events = buffer.split("\n\n");
      buffer = events.pop();
      events.forEach(function (block) {
        var line = block.trim();
        if (line.startsWith("data: ") && line !== "data: [DONE]") each(JSON.parse(line.slice(6)));
      });
    }
  }

  // ---- ask, with the answer streamed ----
  function userMessage(text) {
    if (state.turns.length) return { role: "user", content: text };
    return { role: "user", content: [
      { type: "video_url", video_url: { url: state.video.path } },
      { type: "text", text: text }] };
  }
  $("question").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("ask").requestSubmit(); }
  });
  $("ask").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!state.video) { $("playing").textContent = "choose a video first"; return; }
    var question = $("question").value.trim();
    if (!question || state.asking) return;
    $("question").value = "";
    ask(question);
  });
  $("stop").addEventListener("click", function () { if (state.asking) state.asking.abort(); });
  $("new-chat").addEventListener("click", function () {
    state.turns = [];
    $("turns").replaceChildren();
  });

  async function ask(question) {
    var item = el("li", null, "turn");
    item.append(el("p", question, "question"));
    var answer = el("p", "", "answer");
    item.append(answer);
    $("turns").append(item);
    var body = { model: document.body.dataset.model, stream: true,
                 messages: state.turns.concat([userMessage(question)]) };
    var frames = parseInt($("frames").value, 10);
    if (frames) body.frames = frames;
    var tokens = parseInt($("tokens").value, 10);
    if (tokens) body.max_tokens = tokens;
    if ($("start").value.trim()) body.start = $("start").value.trim();
    if ($("end").value.trim()) body.end = $("end").value.trim();
    if ($("profile").value) body.profile = $("profile").value;
    var controller = new AbortController();
    state.asking = controller;
    $("stop").disabled = false;
    $("send").disabled = true;
    var sent = performance.now(), text = "";
    try {
      var response = await api("/v1/chat/completions", { method: "POST", json: body, signal: controller.signal });
      if (!response.ok) { answer.textContent = "error: " + (await failure(response)); return; }
      await readEvents(response, function (data) {
        if (data.error) { answer.textContent = text + " [error: " + data.error.message + "]"; return; }
        if (data.chronicon && data.chronicon.frames) showStrip(data.chronicon.frames);
        var delta = data.choices && data.choices[0] && data.choices[0].delta;
        if (delta && delta.content) {
          if (!text && timing.first_token_ms === undefined) timing.first_token_ms = performance.now() - sent;
          text += delta.content;
          answer.textContent = text;
        }
      });
      state.turns.push(userMessage(question), { role: "assistant", content: text });
      if (state.turns.length === 2) setTimeout(loadVideos, 1500);  // now cached: say so
    } catch (error) {
      if (error.name === "AbortError") {
        answer.textContent = text;
        answer.append(el("span", " (stopped)", "stopped"));
        item.dataset.stopped = "1";
      } else {
        answer.textContent = text + " [the connection dropped: ask again]";
      }
    } finally {
      state.asking = null;
      $("stop").disabled = true;
      $("send").disabled = false;
      item.dataset.done = "1";
    }
  }

  function showStrip(frames) {
    var strip = $("strip");
    strip.replaceChildren();
    frames.forEach(function (frame) {
      var t = frame.timestamp_s;
      var button = seekButton("", t, null, "frame");
      button.setAttribute("aria-label", "seek to " + clock(t));
      var image = el("img");
      image.alt = "";
      image.src = "/v1/frame?path=" + encodeURIComponent(state.video.path) + "&t=" + t;
      button.append(image, el("span", clock(t)));
      strip.append(button);
    });
  }

  // ---- highlights: a job, its windows drawn as they are scored ----
  $("find").addEventListener("click", async function () {
    if (!state.video) { $("job").textContent = "choose a video first"; return; }
    var body = { video: state.video.path };
    if ($("profile").value) body.profile = $("profile").value;
    if ($("window").value) { body.window = parseFloat($("window").value); body.overlap = 0; }
    $("timeline").replaceChildren();
    $("ranked").replaceChildren();
    $("axis-end").textContent = clock(state.video.duration_s || 0);
    var response = await api("/v1/highlights", { method: "POST", json: body });
    if (!response.ok) { $("job").textContent = "error: " + (await failure(response)); return; }
    var job = await response.json();
    $("job").textContent = "scoring windows…";
    follow(job.id, state.video);
  });

  async function follow(ident, video) {
    var response = await api("/v1/highlights/" + encodeURIComponent(ident) + "/events");
    if (!response.ok) { $("job").textContent = "error: " + (await failure(response)); return; }
    await readEvents(response, function (data) {
      if (state.video !== video) return;
      if (data.type === "window") {
        drawWindow(data.window, video);
        $("job").textContent = "scored " + $("timeline").querySelectorAll(".bar").length + " of " + data.total + " windows";
      } else if (data.type === "done") {
        finished(data.result, video);
      } else if (data.type === "failed") {
        $("job").textContent = "the job failed: " + (data.error ? data.error.message : "");
      }
    });
  }

  var SVG = "http://www.w3.org/2000/svg";
  function drawWindow(window_, video) {
    var duration = video.duration_s || window_.end_s;
    var x = 1000 * window_.start_s / duration, w = 1000 * (window_.end_s - window_.start_s) / duration;
    var score = window_.significance, h = score === null ? 8 : 10 * score;
    var bar = document.createElementNS(SVG, "rect");
    bar.setAttribute("x", x.toFixed(2));
    bar.setAttribute("width", Math.max(1, w - 1).toFixed(2));
    bar.setAttribute("y", 110 - h);
    bar.setAttribute("height", h);
    bar.setAttribute("class", "bar s" + (score === null ? "none" : score));
    bar.setAttribute("tabindex", "0");
    bar.setAttribute("role", "button");
    var label = clock(window_.start_s) + "-" + clock(window_.end_s) + " · " +
      (score === null ? "unscored" : score + "/10") + " · " + (window_.description || "");
    bar.setAttribute("aria-label", label);
    var title = document.createElementNS(SVG, "title");
    title.textContent = label;
    bar.append(title);
    var go = function () { play(window_.start_s, window_.end_s, label); };
    bar.addEventListener("click", go);
    bar.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); go(); }
    });
    var show = function () { $("timeline-detail").textContent = short(label, 200); };
    bar.addEventListener("focus", show);
    bar.addEventListener("mouseenter", show);
    $("timeline").append(bar);
  }

  function finished(result, video) {
    $("job").textContent = result.highlights.length + " highlights from " + result.windows.length + " windows";
    var loudness = result.audio && result.audio.loudness_lufs;
    if (loudness && loudness.length > 1) {
      var low = Math.min.apply(null, loudness), high = Math.max.apply(null, loudness);
      var points = loudness.map(function (v, i) {
        var y = high === low ? 60 : 110 - 100 * (v - low) / (high - low);
        return (1000 * (i + 0.5) / (video.duration_s || loudness.length)).toFixed(1) + "," + y.toFixed(1);
      });
      var line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", points.join(" "));
      line.setAttribute("class", "loudness");
      $("timeline").append(line);
    }
    var list = $("ranked");
    list.replaceChildren();
    result.highlights.forEach(function (h) {
      var item = el("li");
      var label = clock(h.start_s) + "-" + clock(h.end_s);
      item.append(seekButton("▶ " + label, h.start_s, h.end_s, "play"));
      item.append(el("span", " " + h.significance + "/10 ", "score"));
      var text = el("p", h.description, "clamp");
      text.title = h.description;
      item.append(text);
      list.append(item);
    });
  }

  // ---- search the library ----
  $("search").addEventListener("submit", async function (event) {
    event.preventDefault();
    var query = $("query").value.trim();
    if (!query) return;
    var response = await api("/v1/search?q=" + encodeURIComponent(query) + "&limit=50");
    var results = $("results");
    results.replaceChildren();
    if (!response.ok) { $("search-note").textContent = await failure(response); return; }
    var hits = (await response.json()).data;
    $("search-note").textContent = hits.length ? hits.length + " moments" : "no moment matches";
    var groups = new Map();
    hits.forEach(function (hit) {
      if (!groups.has(hit.video)) groups.set(hit.video, []);
      groups.get(hit.video).push(hit);
    });
    groups.forEach(function (group, path) {
      var section = el("section", null, "group");
      section.append(el("h3", path.split("/").pop()));
      var known = videos.find(function (v) { return v.path === path && v.playable; });
      group.forEach(function (hit) {
        var row = el("div", null, "hit");
        var label = clock(hit.start_s) + "-" + clock(hit.end_s);
        if (known) {
          var button = seekButton("▶ " + label, hit.start_s, hit.end_s, "play");
          button.addEventListener("click", function () { openVideo(known); }, { capture: true });
          row.append(button);
        } else {
          row.append(el("span", label + " (not under a media root)", "note"));
        }
        if (hit.significance !== null) row.append(el("span", " " + hit.significance + "/10", "score"));
        var said = marked(hit.description, hit.matches);
        said.className = "clamp";
        said.title = hit.description;
        row.append(said);
        section.append(row);
      });
      results.append(section);
    });
  });

  function marked(text, words) {
    var paragraph = el("p");
    var wanted = (words || []).map(function (w) { return w.toLowerCase(); });
    text.split(/(\p{L}[\p{L}\p{N}]*|\p{N}+)/u).forEach(function (piece) {
      if (!piece) return;
      if (wanted.indexOf(piece.toLowerCase()) >= 0) paragraph.append(el("mark", piece));
      else paragraph.append(document.createTextNode(piece));
    });
    return paragraph;
  }

  // ---- start ----
  if (needsKey && !key()) showLogin(); else startApp();
  setInterval(function () {
    health().then(function () { showUp(); }, function () { watchConnection(); });
  }, 5000);
  document.documentElement.dataset.ready = "1";
})();
