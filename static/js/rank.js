/* The ranking page: rank the completions of one task, submit, load the next. No build step.
 *
 * Page data comes from the json_script "rank-data": {project, task, progress, urls}. Texts from
 * the server go through RankForgeText.render (static/js/markdown.js): sanitised Markdown, or
 * plain text where the project turned Markdown off; everything else is set with textContent.
 * A completion holding <script> or <img onerror> shows as text and runs nothing.
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
    instructionsBox: $("instructions-box"), contextBox: $("context-box"), contextSummary: $("context-summary"),
    rankedCount: $("ranked-count"), rankingPanel: document.querySelector(".ranking-panel"),
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
  let renderedInstructions = null;
  const SHORT_CONTEXT_CHARS = 300; // longer conversations start collapsed
  const promptExpand = expanderMake(ui.prompt);
  ui.prompt.after(promptExpand);

  // --- Text ---------------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const markdownOn = Boolean(page.project && page.project.render_markdown);
  function renderRich(container, text, markdown = markdownOn) {
    window.RankForgeText.render(container, text, { markdown });
  }

  /* A text box clamped by CSS gets a "Show all" button while its text overflows; it then
   * grows in place (and shrinks back). Called after the box is in the page, where it has a size. */
  function expanderUpdate(box, button) {
    const expanded = box.classList.contains("expanded");
    button.hidden = !expanded && box.scrollHeight <= box.clientHeight + 2;
    button.textContent = expanded ? "Show less" : "Show all";
    button.setAttribute("aria-expanded", String(expanded));
  }

  function expanderMake(box) {
    const button = el("button", "expand link");
    button.type = "button";
    button.hidden = true;
    button.addEventListener("click", () => {
      box.classList.toggle("expanded");
      expanderUpdate(box, button);
      if (!box.classList.contains("expanded")) box.scrollTop = 0;
    });
    return button;
  }

  /* Instructions open on a project's first visit and after they change; once a task was
   * submitted (or they were closed by hand) they stay collapsed, remembered per project. */
  const instructionsKey = () => `rankforge:instructions-read:${page.project.id}:${hashOf(task.instructions || "")}`;
  function hashOf(text) {
    let hash = 0;
    for (let index = 0; index < text.length; index += 1) hash = (Math.imul(hash, 31) + text.charCodeAt(index)) | 0;
    return (hash >>> 0).toString(36);
  }
  // Storage may be refused (private mode, a policy): then the instructions simply open again.
  function stored(key) {
    try {
      return localStorage.getItem(key) === "1";
    } catch (error) {
      return false;
    }
  }
  function store(key) {
    try {
      localStorage.setItem(key, "1");
    } catch (error) {
      // nothing to remember it in
    }
  }
  function instructionsRead() {
    if (!task || !task.instructions) return;
    store(instructionsKey());
    ui.instructionsBox.open = false;
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
    const handle = el("span", "drag-handle", "⠿");
    handle.title = "Drag to rank";
    handle.setAttribute("aria-hidden", "true");
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
    head.append(handle, label, rank, best, tie, split, back);
    const body = el("div", "rich completion-text clamp");
    body.tabIndex = 0; // long texts scroll by keyboard too
    renderRich(body, completion.text);
    const expand = expanderMake(body);
    const flagBar = el("div", "flags");
    const flagToggle = el("button", "flag-toggle link", "Flag…");
    flagToggle.type = "button";
    flagToggle.setAttribute("aria-expanded", "false");
    flagToggle.addEventListener("click", () => {
      const open = card.classList.toggle("flags-open");
      flagToggle.setAttribute("aria-expanded", String(open));
    });
    flagBar.append(flagToggle);
    for (const flag of task.flags) {
      const chip = el("button", "flag", flag.replace("_", " "));
      chip.type = "button";
      chip.dataset.flag = flag;
      chip.setAttribute("aria-pressed", "false");
      chip.addEventListener("click", () => toggleFlag(completion.id, flag));
      flagBar.append(chip);
    }
    card.append(head, body, expand, flagBar);
    handle.addEventListener("pointerdown", (event) => touchDragStart(event, completion.id, card));
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
    for (const card of Object.values(cards)) {
      expanderUpdate(card.querySelector(".completion-text"), card.querySelector(".expand"));
    }
    const rankedCount = ids().length - remaining.length;
    ui.rankedCount.textContent = `${rankedCount}/${ids().length} ranked`;
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
    if (answer.instructions !== renderedInstructions) {
      renderedInstructions = answer.instructions;
      renderRich(ui.instructions, answer.instructions || "", true);
      ui.instructionsBox.open = !stored(instructionsKey());
    }
    ui.instructionsBox.hidden = !answer.instructions;
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
    const context = answer.prompt.context || [];
    const contextChars = context.reduce((total, turn) => total + String(turn.text || "").length, 0);
    ui.contextBox.hidden = !context.length;
    ui.contextBox.open = contextChars <= SHORT_CONTEXT_CHARS;
    ui.contextSummary.textContent = `Conversation so far (${context.length} ${context.length === 1 ? "turn" : "turns"})`;
    for (const turn of context) {
      const item = el("div", `turn turn-${String(turn.role || "user").replace(/[^a-z]/g, "")}`);
      item.append(el("div", "role", turn.role || "user"));
      const body = el("div", "rich");
      renderRich(body, turn.text);
      item.append(body);
      ui.context.append(item);
    }
    renderRich(ui.prompt, answer.prompt.text);
    ui.prompt.classList.remove("expanded");
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
    expanderUpdate(ui.prompt, promptExpand);
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
      instructionsRead();
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
    // The next task starts at its top, wherever the last one was scrolled to.
    window.scrollTo(0, 0);
    ui.rankingPanel.scrollTop = 0;
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

  function markDrop(zone, event) {
    clearMarkers();
    if (zone === ui.pool) {
      ui.pool.classList.add("drop-here");
    } else if (zone === ui.ranking) {
      ui.ranking.classList.add("drop-here");
      const index = dropIndex(event);
      const items = ui.ranking.children;
      if (index < items.length) items[index].classList.add("drop-before");
      else if (items.length) items[items.length - 1].classList.add("drop-after");
    }
  }

  function dropOn(zone, id, event) {
    clearMarkers();
    if (!cards[id] || busy) return;
    if (zone === ui.pool) unrank(id);
    else if (zone === ui.ranking) placeAt(id, dropIndex(event));
  }

  for (const zone of [ui.ranking, ui.pool, ui.rankingEmpty]) {
    const target = zone === ui.pool ? ui.pool : ui.ranking;
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      markDrop(target, event);
    });
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) clearMarkers();
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      dropOn(target, Number(event.dataTransfer.getData("text/plain")), event);
    });
  }

  /* Fingers and pens: HTML drag and drop does not start from a touch, so a card's handle
   * (⠿, which does not scroll the page) follows pointer events, with the mouse's drop rules.
   * Near the top or bottom of the screen the page scrolls along. */
  let touchDrag = null;
  function touchDragStart(event, id, card) {
    if (event.pointerType === "mouse" || busy) return;
    event.preventDefault();
    event.target.setPointerCapture(event.pointerId);
    touchDrag = { id, card, pointer: event.pointerId };
    card.classList.add("dragging");
  }

  function zoneAt(x, y) {
    const under = document.elementFromPoint(x, y);
    if (!under) return null;
    if (under.closest("#pool")) return ui.pool;
    if (under.closest(".ranking-panel")) return ui.ranking;
    return null;
  }

  function touchDragEnd(event, dropped) {
    if (!touchDrag || event.pointerId !== touchDrag.pointer) return;
    const { id, card } = touchDrag;
    touchDrag = null;
    card.classList.remove("dragging");
    if (dropped) dropOn(zoneAt(event.clientX, event.clientY), id, event);
    else clearMarkers();
  }

  document.addEventListener("pointermove", (event) => {
    if (!touchDrag || event.pointerId !== touchDrag.pointer) return;
    event.preventDefault();
    markDrop(zoneAt(event.clientX, event.clientY), event);
    const edge = 56;
    if (event.clientY < edge) window.scrollBy(0, -18);
    else if (event.clientY > window.innerHeight - edge) window.scrollBy(0, 18);
  });
  document.addEventListener("pointerup", (event) => touchDragEnd(event, true));
  document.addEventListener("pointercancel", (event) => touchDragEnd(event, false));

  ui.instructionsBox.addEventListener("toggle", () => {
    if (!ui.instructionsBox.open) instructionsRead();
  });

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
