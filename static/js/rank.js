/* The ranking page: rank the completions of one task, submit, load the next. No build step.
 *
 * Page data comes from the json_script "rank-data": {task, urls}. Every text from the server
 * is put into the page with textContent (never innerHTML), so a completion holding <script>
 * or <img onerror> shows as text and runs nothing.
 *
 * State: `groups` is the ranking so far, best first (a group of several is a tie); `picks`
 * is the order ids were ranked in, for undo. Completions not in `groups` are the pool.
 */
(function () {
  "use strict";

  const page = JSON.parse(document.getElementById("rank-data").textContent);
  const $ = (id) => document.getElementById(id);
  const ui = {
    workspace: $("workspace"), progress: $("progress"), instructions: $("instructions"),
    context: $("context"), prompt: $("prompt"), pool: $("pool"), poolCount: $("pool-count"),
    ranking: $("ranking"), rankingEmpty: $("ranking-empty"), tieArmed: $("tie-armed"),
    comment: $("comment"), submit: $("submit"), skip: $("skip"), skipBox: $("skip-box"),
    skipReason: $("skip-reason"), skipCancel: $("skip-cancel"), status: $("status"), error: $("error"),
    reload: $("reload"), keys: $("keys"), timer: $("timer"), task: $("task"), done: $("done"),
    doneMessage: $("done-message"),
  };

  let task = null;
  let progress = page.progress;
  let submitted = 0;
  let groups = [];
  let picks = [];
  let flags = {};
  let tieNext = false;
  let digitPrefix = false;
  let busy = false;
  let cards = {};
  let visibleMs = 0;
  let visibleSince = null;

  // --- Text ---------------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /* Plain text keeps its line breaks (CSS pre-wrap); ``` fences become <pre><code>. */
  function renderRich(container, text) {
    container.replaceChildren();
    const lines = String(text ?? "").split("\n");
    let buffer = [];
    let inCode = false;
    let language = "";
    const flush = () => {
      if (!buffer.length) return;
      if (inCode) {
        const pre = el("pre", "code");
        const code = el("code", null, buffer.join("\n"));
        if (language) code.dataset.language = language;
        pre.append(code);
        container.append(pre);
      } else {
        const joined = buffer.join("\n").replace(/^\n+|\n+$/g, "");
        if (joined) container.append(el("div", "prose", joined));
      }
      buffer = [];
    };
    for (const line of lines) {
      const fence = line.trim().match(/^```\s*([\w+#.-]*)/);
      if (fence) {
        flush();
        inCode = !inCode;
        language = inCode ? fence[1].slice(0, 20) : "";
      } else {
        buffer.push(line);
      }
    }
    flush();
  }

  // --- Ranking state ------------------------------------------------------------------
  const ids = () => task.completions.map((c) => c.id);
  const isRanked = (id) => groups.some((group) => group.includes(id));
  const pool = () => ids().filter((id) => !isRanked(id));
  const labelOf = (id) => ids().indexOf(id) + 1;

  function removeFromGroups(id) {
    groups = groups.map((group) => group.filter((other) => other !== id)).filter((group) => group.length);
    picks = picks.filter((other) => other !== id);
  }

  function pick(id) {
    if (isRanked(id)) {
      say(`Reply ${labelOf(id)} is already ranked. Undo with u.`);
      return;
    }
    if (tieNext && groups.length) {
      groups[groups.length - 1].push(id);
    } else {
      groups.push([id]);
    }
    tieNext = false;
    picks.push(id);
    render();
  }

  function placeAt(id, index) {
    const before = groups.slice(0, index).filter((group) => !(group.length === 1 && group[0] === id)).length;
    removeFromGroups(id);
    groups.splice(Math.min(before, groups.length), 0, [id]);
    picks.push(id);
    render();
  }

  function unrank(id) {
    removeFromGroups(id);
    render();
  }

  function undo() {
    tieNext = false;
    const last = picks[picks.length - 1];
    if (last === undefined) return say("Nothing to undo.");
    unrank(last);
  }

  function armTie() {
    if (!task.allow_ties) return fail("This project does not allow ties: rank every reply on its own.");
    if (!groups.length) return say("Pick a reply first, then press t to tie the next one with it.");
    tieNext = !tieNext;
    render();
  }

  function tieWithAbove(groupIndex) {
    if (!task.allow_ties) return fail("This project does not allow ties: rank every reply on its own.");
    if (groupIndex < 1) return;
    groups[groupIndex - 1].push(...groups[groupIndex]);
    groups.splice(groupIndex, 1);
    render();
  }

  function untie(id) {
    const groupIndex = groups.findIndex((group) => group.includes(id));
    groups[groupIndex] = groups[groupIndex].filter((other) => other !== id);
    groups.splice(groupIndex + 1, 0, [id]);
    render();
  }

  function toggleFlag(id, flag) {
    const current = new Set(flags[id] || []);
    current.has(flag) ? current.delete(flag) : current.add(flag);
    flags[id] = [...current];
    render();
  }

  // --- Drawing ------------------------------------------------------------------------
  function buildCard(completion) {
    const card = el("article", "completion");
    card.dataset.id = completion.id;
    card.draggable = true;
    const head = el("header", "completion-head");
    const label = el("span", "label", String(labelOf(completion.id)));
    label.title = `Press ${labelOf(completion.id)} to rank this reply next`;
    const rank = el("span", "rank-badge");
    const best = el("button", "best-next", "Best next");
    best.type = "button";
    best.addEventListener("click", () => pick(completion.id));
    const tie = el("button", "tie-above link", "= tie with above");
    tie.type = "button";
    tie.addEventListener("click", () => tieWithAbove(groups.findIndex((g) => g.includes(completion.id))));
    const split = el("button", "untie link", "untie");
    split.type = "button";
    split.addEventListener("click", () => untie(completion.id));
    const back = el("button", "unrank link", "↩ back");
    back.type = "button";
    back.title = "Take this reply out of the ranking";
    back.addEventListener("click", () => unrank(completion.id));
    head.append(label, rank, best, tie, split, back);
    const body = el("div", "rich completion-text");
    body.tabIndex = 0; // long texts scroll by keyboard too
    renderRich(body, completion.text);
    const flagBar = el("div", "flags");
    for (const flag of task.flags) {
      const chip = el("button", "flag", flag.replace("_", " "));
      chip.type = "button";
      chip.dataset.flag = flag;
      chip.setAttribute("aria-pressed", "false");
      chip.addEventListener("click", () => toggleFlag(completion.id, flag));
      flagBar.append(chip);
    }
    card.append(head, body, flagBar);
    card.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("text/plain", String(completion.id));
      event.dataTransfer.effectAllowed = "move";
      card.classList.add("dragging");
    });
    card.addEventListener("dragend", () => card.classList.remove("dragging"));
    return card;
  }

  function render() {
    const remaining = pool();
    ui.pool.replaceChildren();
    for (const id of remaining) {
      const item = el("li");
      item.append(cards[id]);
      cards[id].classList.remove("ranked");
      ui.pool.append(item);
    }
    ui.poolCount.textContent = remaining.length ? `${remaining.length} of ${ids().length}` : "all ranked";
    ui.ranking.replaceChildren();
    groups.forEach((group, index) => {
      const item = el("li", group.length > 1 ? "group tie" : "group");
      item.dataset.index = index;
      const place = el("span", "place", String(index + 1));
      place.setAttribute("aria-label", `Rank ${index + 1}${group.length > 1 ? " (tie)" : ""}`);
      item.append(place);
      const members = el("div", "members");
      for (const id of group) {
        const card = cards[id];
        card.classList.add("ranked");
        card.querySelector(".rank-badge").textContent = group.length > 1 ? `#${index + 1} (tie)` : `#${index + 1}`;
        card.querySelector(".tie-above").hidden = !task.allow_ties || index === 0 || group.length > 1;
        card.querySelector(".untie").hidden = group.length < 2;
        members.append(card);
      }
      item.append(members);
      ui.ranking.append(item);
    });
    for (const [id, card] of Object.entries(cards)) {
      const chosen = new Set(flags[id] || []);
      for (const chip of card.querySelectorAll(".flag")) {
        chip.setAttribute("aria-pressed", String(chosen.has(chip.dataset.flag)));
      }
    }
    ui.rankingEmpty.hidden = groups.length > 0;
    ui.tieArmed.hidden = !tieNext;
    ui.submit.disabled = busy || remaining.length > 0;
    ui.skip.disabled = busy;
  }

  function renderProgress() {
    if (!progress) return;
    ui.progress.replaceChildren(
      stat(progress.done_today, "today"),
      stat(progress.done_total, "in total"),
      stat(progress.left, "left in project"),
    );
  }

  function stat(value, label) {
    const item = el("span", "stat");
    item.append(el("strong", null, Number(value).toLocaleString()), document.createTextNode(` ${label}`));
    return item;
  }

  function show(answer) {
    task = answer;
    renderProgress();
    ui.instructions.textContent = answer.instructions || "";
    ui.instructions.closest("details").hidden = !answer.instructions;
    if (!answer.assignment_id) {
      ui.task.hidden = true;
      ui.done.hidden = false;
      ui.doneMessage.textContent = answer.message || "No task left for you.";
      ui.workspace.dataset.state = "done";
      return;
    }
    groups = [];
    picks = [];
    flags = {};
    tieNext = false;
    digitPrefix = false;
    ui.comment.value = "";
    ui.skipBox.hidden = true;
    ui.skipReason.value = "";
    ui.reload.hidden = true;
    ui.error.textContent = "";
    ui.context.replaceChildren();
    for (const turn of answer.prompt.context || []) {
      const item = el("div", `turn turn-${String(turn.role || "user").replace(/[^a-z]/g, "")}`);
      item.append(el("div", "role", turn.role || "user"));
      const body = el("div", "rich");
      renderRich(body, turn.text);
      item.append(body);
      ui.context.append(item);
    }
    renderRich(ui.prompt, answer.prompt.text);
    cards = {};
    for (const completion of answer.completions) cards[completion.id] = buildCard(completion);
    document.body.classList.toggle("ties-allowed", Boolean(answer.allow_ties));
    document.body.classList.toggle("many-replies", answer.completions.length > 9);
    ui.task.hidden = false;
    ui.done.hidden = true;
    ui.workspace.dataset.state = "ready";
    ui.workspace.dataset.assignment = answer.assignment_id;
    visibleMs = 0;
    visibleSince = document.hidden ? null : performance.now();
    render();
  }

  // --- Talking to the server ----------------------------------------------------------
  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function call(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (error) {
      data = { detail: `The server answered ${response.status}.` };
    }
    return { ok: response.ok, status: response.status, data };
  }

  function secondsOnTask() {
    const running = visibleSince === null ? 0 : performance.now() - visibleSince;
    return Math.round((visibleMs + running) / 100) / 10;
  }

  async function withBusy(work) {
    if (busy) return;
    busy = true;
    ui.workspace.dataset.state = "busy";
    render();
    try {
      await work();
    } catch (error) {
      fail("The server could not be reached. Check the connection and try again.");
    } finally {
      busy = false;
      if (ui.workspace.dataset.state === "busy") ui.workspace.dataset.state = "ready";
      if (task && task.assignment_id) render();
    }
  }

  function submit() {
    if (!task || !task.assignment_id) return;
    const left = pool().length;
    if (left) return fail(`Rank all replies first: ${left} left.`);
    const body = { order: groups, seconds: secondsOnTask(), comment: ui.comment.value };
    const chosenFlags = Object.fromEntries(Object.entries(flags).filter(([, values]) => values.length));
    if (Object.keys(chosenFlags).length) body.flags = chosenFlags;
    return withBusy(async () => {
      say("Saving…");
      const answer = await call("POST", page.urls.submit.replace("{id}", task.assignment_id), body);
      if (!answer.ok) return refused(answer);
      say("Saved. Next task…");
      countSubmit(answer.status === 201);
      await loadNext();
    });
  }

  function skip(reason) {
    return withBusy(async () => {
      const answer = await call("POST", page.urls.skip.replace("{id}", task.assignment_id), { reason });
      if (!answer.ok) return refused(answer);
      say("Skipped. Next task…");
      await loadNext();
    });
  }

  /* Progress is counted here, and fetched from the server every few tasks (it is not in the
   * next-task answer, so that task requests stay cheap). */
  function countSubmit(created) {
    if (!created || !progress) return;
    progress.done_today += 1;
    progress.done_total += 1;
    progress.left = Math.max(0, progress.left - 1);
    submitted += 1;
    if (submitted % 5 === 0) {
      call("GET", page.urls.progress).then((answer) => {
        if (answer.ok) {
          progress = answer.data;
          renderProgress();
        }
      }).catch(() => {});
    }
  }

  async function loadNext() {
    const answer = await call("GET", page.urls.next);
    if (!answer.ok) return refused(answer);
    show(answer.data);
    say(answer.data.assignment_id ? "" : "Done.");
  }

  function refused(answer) {
    fail(answer.data.detail || `The server answered ${answer.status}.`);
    // A task that expired, was skipped, ranked already or is gone will not recover here.
    const stale = answer.status === 400 && /expired|skipped/.test(answer.data.detail || "");
    ui.reload.hidden = !(stale || answer.status === 404 || answer.status === 409);
  }

  function say(message) {
    ui.status.textContent = message;
    ui.error.textContent = "";
  }

  function fail(message) {
    ui.error.textContent = message;
    ui.status.textContent = "";
  }

  // --- Input --------------------------------------------------------------------------
  function openSkip() {
    ui.skipBox.hidden = false;
    ui.skipReason.focus();
  }

  function closeSkip() {
    ui.skipBox.hidden = true;
    ui.skipReason.value = "";
  }

  document.addEventListener("keydown", (event) => {
    if (!task || !task.assignment_id || event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = event.target.closest && event.target.closest("input, textarea, select");
    if (typing) {
      if (event.key === "Escape") {
        event.target.blur();
        if (event.target === ui.skipReason) closeSkip();
      }
      return;
    }
    if (event.target.closest && event.target.closest("button, summary, a") && (event.key === "Enter" || event.key === " ")) {
      return; // let buttons and links do their own thing
    }
    const key = event.key;
    if (/^[0-9]$/.test(key)) {
      event.preventDefault();
      const count = task.completions.length;
      let label = Number(key);
      if (digitPrefix) {
        label += 10;
        digitPrefix = false;
      } else if (key === "0") {
        if (count > 9) {
          digitPrefix = true;
          say("0… now the second digit (e.g. 3 for reply 13).");
        }
        return;
      }
      if (label < 1 || label > count) return say(`There is no reply ${label}.`);
      say("");
      pick(task.completions[label - 1].id);
    } else if (key === "t" || key === "=") {
      event.preventDefault();
      armTie();
    } else if (key === "u" || key === "Backspace") {
      event.preventDefault();
      undo();
    } else if (key === "Enter") {
      event.preventDefault();
      submit();
    } else if (key === "s") {
      event.preventDefault();
      openSkip();
    } else if (key === "?") {
      ui.keys.open = !ui.keys.open;
    } else if (key === "Escape") {
      tieNext = false;
      digitPrefix = false;
      render();
    }
  });

  ui.submit.addEventListener("click", submit);
  ui.skip.addEventListener("click", openSkip);
  ui.skipCancel.addEventListener("click", closeSkip);
  ui.skipBox.addEventListener("submit", (event) => {
    event.preventDefault();
    skip(ui.skipReason.value);
  });
  ui.reload.addEventListener("click", () => withBusy(loadNext));

  // Drag a reply into the ranking (dropped between places) or back into the pool.
  function dropIndex(event) {
    const items = [...ui.ranking.children];
    for (const [index, item] of items.entries()) {
      const box = item.getBoundingClientRect();
      if (event.clientY < box.top + box.height / 2) return index;
    }
    return items.length;
  }

  function clearMarkers() {
    for (const item of ui.ranking.querySelectorAll(".drop-before, .drop-after")) {
      item.classList.remove("drop-before", "drop-after");
    }
    ui.ranking.classList.remove("drop-here");
    ui.pool.classList.remove("drop-here");
  }

  for (const zone of [ui.ranking, ui.pool, ui.rankingEmpty]) {
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      clearMarkers();
      if (zone === ui.pool) {
        ui.pool.classList.add("drop-here");
        return;
      }
      ui.ranking.classList.add("drop-here");
      const index = dropIndex(event);
      const items = ui.ranking.children;
      if (index < items.length) items[index].classList.add("drop-before");
      else if (items.length) items[items.length - 1].classList.add("drop-after");
    });
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) clearMarkers();
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      clearMarkers();
      const id = Number(event.dataTransfer.getData("text/plain"));
      if (!cards[id]) return;
      if (zone === ui.pool) unrank(id);
      else placeAt(id, dropIndex(event));
    });
  }

  // Time on task counts only while the page is visible.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden && visibleSince !== null) {
      visibleMs += performance.now() - visibleSince;
      visibleSince = null;
    } else if (!document.hidden && visibleSince === null) {
      visibleSince = performance.now();
    }
  });
  setInterval(() => {
    if (!task || !task.assignment_id) return;
    const seconds = Math.floor(secondsOnTask());
    ui.timer.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  }, 1000);

  show(page.task);
})();
