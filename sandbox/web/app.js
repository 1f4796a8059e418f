// The sandbox's page: a Slack channel, the app's Home tab and its modals, drawn from what
// the Slack emulator recorded, and every click sent back to the bot through the sandbox's
// API (see sandbox/ui.py). Plain JavaScript, no build step. Text from messages only ever
// reaches the page as text nodes: nothing here sets innerHTML.
"use strict";

(() => {
  const API = "api/";
  const COMMANDS = [
    ["/tonomo help", "what the bot does and every command"],
    ["/tonomo connect-calendar", "a sign-in link for your own calendar"],
    ["/tonomo connect-calendar primary", "a sign-in link for the business's primary calendar"],
    ["/tonomo status", "every calendar connection, checked live"],
    ["/tonomo availability", "free time today"],
    ["/tonomo availability this week", "free time this week, people × days"],
    ["/tonomo availability @alice tomorrow 1h", "where a 1-hour shoot fits tomorrow"],
    ["/tonomo book", "the booking form"],
    ["/tonomo book @alice tomorrow 10:00 1h Shoot at 12 Main St", "book someone"],
    ["/tonomo book anyone tomorrow 10:00 1h30m Listing photos", "book whoever is free, fairly"],
    ["/tonomo move ", "move a booking: its id, a day and a time"],
    ["/tonomo cancel ", "cancel a booking by its id"],
    ["/tonomo why @alice tomorrow 14:00", "why a time isn't free for someone"],
    ["/tonomo timeoff @bob friday Dentist", "a day off (or DAY..DAY)"],
    ["/tonomo timeoff", "time off coming up"],
    ["/tonomo settings", "timezone, hours, clock, buffer, notice, step"],
    ["/tonomo settings buffer 30m", "free time kept around every booking"],
    ["/tonomo digest now", "today's availability digest, posted now"],
    ["/tonomo onboard", "the onboarding checklist"],
    ["/tonomo disconnect", "remove your calendar connection"],
  ];
  const EMOJI = {
    white_check_mark: "✅", heavy_check_mark: "✔️", warning: "⚠️", no_entry: "⛔",
    no_entry_sign: "🚫", grey_question: "❔", question: "❓", exclamation: "❗",
    grey_exclamation: "❕", hourglass_flowing_sand: "⏳", hourglass: "⌛", bulb: "💡",
    information_source: "ℹ️", link: "🔗", point_right: "👉", tada: "🎉", wastebasket: "🗑️",
    white_large_square: "⬜", calendar: "📆", date: "📅", spiral_calendar_pad: "🗓️",
    x: "❌", clock3: "🕒", alarm_clock: "⏰", camera: "📷", camera_with_flash: "📸",
    wave: "👋", eyes: "👀", "+1": "👍", thumbsup: "👍", rocket: "🚀", sunny: "☀️",
    lock: "🔒", key: "🔑", red_circle: "🔴", large_green_circle: "🟢",
    large_yellow_circle: "🟡", memo: "📝", pushpin: "📌", busts_in_silhouette: "👥",
    bust_in_silhouette: "👤", zzz: "💤", star: "⭐", sparkles: "✨", repeat: "🔁",
    arrows_counterclockwise: "🔄", heavy_plus_sign: "➕", car: "🚗", house: "🏠",
    sun_with_face: "🌞", coffee: "☕", palm_tree: "🌴", checkered_flag: "🏁",
    large_blue_circle: "🔵", arrow_right: "➡️", mag: "🔍", gear: "⚙️", bell: "🔔",
  };
  const AVATAR_COLOURS = ["#e8912d", "#2bac76", "#4a7fd6", "#cd2553", "#9b59b6", "#1f9fa6"];

  const S = {
    me: null, // the person acted as (their user id)
    state: null, // the last state from the server
    version: null, // its version; null: fetch at once
    pane: "channel",
    thread: null, // the ts of the message whose thread is open, or null
    threadKey: null,
    nodes: new Map(), // message ts -> {sig, node}
    modalKey: null,
    homeKey: null,
    people: "",
    pollGeneration: 0,
    pollController: null,
    scrolledOnce: false,
  };

  const $ = (id) => document.getElementById(id);

  // -- small DOM helpers ---------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  // -- mrkdwn: Slack's text formatting, as text nodes ---------------------------------------

  const decode = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  const emojify = (s) => s.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
  const textNode = (s) => document.createTextNode(emojify(decode(s)));

  // A reference <…>, `code`, *bold*, _italic_ or ~strike~ (markers at word boundaries).
  const INLINE = new RegExp(
    [
      "<([^<>\\n]+)>",
      "`([^`\\n]+)`",
      "(?<![\\w*])\\*(?=\\S)([^*\\n]*?\\S)\\*(?![\\w*])",
      "(?<![\\w_])_(?=\\S)([^_\\n]*?\\S)_(?![\\w_])",
      "(?<![\\w~])~(?=\\S)([^~\\n]*?\\S)~(?![\\w~])",
    ].join("|"),
    "g",
  );

  function inline(text) {
    const frag = document.createDocumentFragment();
    const re = new RegExp(INLINE.source, "g");
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      if (m.index > last) frag.append(textNode(text.slice(last, m.index)));
      if (m[1] !== undefined) frag.append(reference(m[1]));
      else if (m[2] !== undefined) frag.append(el("code", { className: "code" }, decode(m[2])));
      else if (m[3] !== undefined) frag.append(el("strong", {}, inline(m[3])));
      else if (m[4] !== undefined) frag.append(el("em", {}, inline(m[4])));
      else frag.append(el("s", {}, inline(m[5])));
      last = re.lastIndex;
    }
    if (last < text.length) frag.append(textNode(text.slice(last)));
    return frag;
  }

  function reference(inner) {
    const bar = inner.indexOf("|");
    const target = bar < 0 ? inner : inner.slice(0, bar);
    const label = bar < 0 ? "" : decode(inner.slice(bar + 1));
    const users = (S.state && S.state.users) || {};
    const channels = (S.state && S.state.channels) || {};
    if (/^@[UW][A-Z0-9]+$/.test(target)) {
      const id = target.slice(1);
      return el("span", { className: "mention", "data-user-id": id },
        "@" + (users[id] || label || id));
    }
    if (/^#C[A-Z0-9]+$/.test(target)) {
      const id = target.slice(1);
      return el("span", { className: "mention channel" }, "#" + (channels[id] || label || id));
    }
    if (target.startsWith("!")) {
      const special = { "!here": "@here", "!channel": "@channel", "!everyone": "@everyone" };
      if (special[target]) return el("span", { className: "mention" }, special[target]);
      return el("span", { className: target.startsWith("!date") ? "date" : "mention" },
        label || target.slice(1));
    }
    const href = decode(target);
    if (/^(https?:|mailto:)/i.test(href)) {
      return el("a", { href, target: "_blank", rel: "noopener noreferrer" }, label || href);
    }
    return document.createTextNode(label || href);
  }

  function mrkdwnLines(text) {
    const frag = document.createDocumentFragment();
    let plain = [];
    let quote = [];
    const flushPlain = () => {
      if (plain.length) frag.append(el("span", {}, inline(plain.join("\n"))));
      plain = [];
    };
    const flushQuote = () => {
      if (quote.length) frag.append(el("blockquote", {}, inline(quote.join("\n"))));
      quote = [];
    };
    for (const line of text.split("\n")) {
      const quoted = line.match(/^(?:&gt;|>) ?(.*)$/);
      if (quoted) {
        flushPlain();
        quote.push(quoted[1]);
      } else {
        flushQuote();
        plain.push(line);
      }
    }
    flushPlain();
    flushQuote();
    return frag;
  }

  function mrkdwn(text) {
    const frag = document.createDocumentFragment();
    const parts = String(text || "").split("```");
    parts.forEach((part, i) => {
      const isCode = i % 2 === 1 && i < parts.length - 1;
      if (isCode) {
        frag.append(el("pre", { className: "code-block" }, decode(part.replace(/^\n/, ""))));
        return;
      }
      let body = i % 2 === 1 ? "```" + part : part;
      if (i > 0 && !(i % 2 === 1)) body = body.replace(/^\n/, "");
      if (i < parts.length - 1) body = body.replace(/\n$/, "");
      if (body) frag.append(mrkdwnLines(body));
    });
    return frag;
  }

  function plain(obj) {
    if (!obj) return "";
    const text = typeof obj === "string" ? obj : String(obj.text || "");
    return obj.emoji === false ? text : emojify(text);
  }

  function textObject(obj, className) {
    if (!obj) return null;
    if (obj.type === "mrkdwn") return el("div", { className: `mrkdwn ${className || ""}` }, mrkdwn(obj.text));
    return el("div", { className: `plain ${className || ""}` }, plain(obj));
  }

  // -- Block Kit ------------------------------------------------------------------------

  // `ctx` says where the blocks are: {surface: "message"|"home"|"modal", message_ts, view_id}.
  function renderBlocks(blocks, ctx) {
    const frag = document.createDocumentFragment();
    for (const block of blocks || []) {
      const node = renderBlock(block, ctx);
      if (node) frag.append(node);
    }
    return frag;
  }

  function renderBlock(block, ctx) {
    const attrs = {
      className: `block block-${block.type}`,
      "data-testid": `block-${block.type}`,
      "data-block-id": block.block_id,
    };
    switch (block.type) {
      case "header":
        return el("div", attrs, el("h3", {}, plain(block.text)));
      case "divider":
        return el("div", attrs, el("hr"));
      case "section": {
        const main = el("div", { className: "section-main" },
          textObject(block.text),
          block.fields && el("div", { className: "section-fields" },
            block.fields.map((f) => textObject(f, "field"))));
        return el("div", attrs, main,
          block.accessory && el("div", { className: "accessory" },
            renderElement(block.accessory, block.block_id, ctx)));
      }
      case "context":
        return el("div", attrs, (block.elements || []).map((e) =>
          e.type === "image"
            ? el("img", { className: "context-image", src: safeUrl(e.image_url), alt: e.alt_text || "" })
            : textObject(e, "context-text")));
      case "actions":
        return el("div", attrs, (block.elements || []).map((e) =>
          renderElement(e, block.block_id, ctx)));
      case "image":
        return el("div", attrs,
          block.title && el("div", { className: "image-title" }, plain(block.title)),
          el("img", { className: "image", src: safeUrl(block.image_url), alt: block.alt_text || "",
            onerror: (ev) => ev.target.classList.add("broken") }));
      case "input":
        return renderInput(block, ctx);
      case "rich_text":
        return el("div", attrs, el("span", { className: "unsupported" }, "(rich text)"));
      default:
        return el("div", attrs, el("span", { className: "unsupported" }, `(${block.type} block)`));
    }
  }

  function safeUrl(url) {
    return /^(https?:|mailto:)/i.test(String(url || "")) ? url : "about:blank";
  }

  function controlAttrs(element, blockId, testid) {
    return {
      "data-testid": testid,
      "data-action-id": element.action_id,
      "data-block-id": blockId,
      "data-type": element.type,
    };
  }

  // An interactive element outside an input block: picking or clicking acts at once.
  function renderElement(element, blockId, ctx) {
    switch (element.type) {
      case "button":
        return renderButton(element, blockId, ctx);
      case "overflow":
        return renderOverflow(element, blockId, ctx);
      case "image":
        return el("img", { className: "accessory-image", src: safeUrl(element.image_url),
          alt: element.alt_text || "" });
      case "static_select":
      case "users_select":
      case "conversations_select":
      case "channels_select":
      case "multi_static_select":
      case "multi_users_select":
      case "multi_conversations_select":
      case "multi_channels_select": {
        const select = renderSelect(element, controlAttrs(element, blockId, "block-select"));
        select.addEventListener("change", () => act(ctx, blockId, element, selection(element, select), select));
        return select;
      }
      case "datepicker":
      case "timepicker": {
        const input = renderPicker(element, controlAttrs(element, blockId, "block-picker"));
        input.addEventListener("change", () => {
          const key = element.type === "datepicker" ? "date" : "time";
          act(ctx, blockId, element, { [key]: input.value }, input);
        });
        return input;
      }
      case "checkboxes":
      case "radio_buttons": {
        const group = renderChoices(element, controlAttrs(element, blockId, "block-choices"));
        group.addEventListener("change", () => act(ctx, blockId, element, choices(element, group), group));
        return group;
      }
      default:
        return el("span", { className: "unsupported" }, `(${element.type})`);
    }
  }

  function renderButton(element, blockId, ctx) {
    const url = element.url ? safeUrl(element.url) : null;
    const attrs = {
      ...controlAttrs(element, blockId, "block-button"),
      className: `bk-button ${element.style || ""}`.trim(),
      "data-value": element.value,
    };
    const button = url
      ? el("a", { ...attrs, href: url, target: "_blank", rel: "noopener" }, plain(element.text))
      : el("button", { ...attrs, type: "button" }, plain(element.text));
    button.addEventListener("click", async (ev) => {
      if (!url) ev.preventDefault();
      if (element.confirm) {
        ev.preventDefault();
        if (!(await confirmDialog(element.confirm))) return;
        if (url) window.open(url, "_blank", "noopener");
      }
      act(ctx, blockId, element, null, button); // a link button's click reaches the bot too
    });
    return button;
  }

  function renderOverflow(element, blockId, ctx) {
    const wrap = el("div", { className: "overflow" });
    const menu = el("div", { className: "overflow-menu", "data-testid": "overflow-menu", hidden: true });
    const toggle = el("button", {
      ...controlAttrs(element, blockId, "block-overflow"),
      type: "button", className: "bk-button overflow-toggle", "aria-label": "More actions",
    }, "⋯");
    toggle.addEventListener("click", (ev) => {
      ev.stopPropagation();
      document.querySelectorAll(".overflow-menu").forEach((m) => { if (m !== menu) m.hidden = true; });
      menu.hidden = !menu.hidden;
    });
    for (const option of element.options || []) {
      const item = el("button", {
        type: "button", className: "overflow-option", "data-testid": "overflow-option",
        "data-value": option.value,
      }, plain(option.text));
      item.addEventListener("click", async () => {
        menu.hidden = true;
        if (element.confirm && !(await confirmDialog(element.confirm))) return;
        if (option.url) window.open(safeUrl(option.url), "_blank", "noopener");
        act(ctx, blockId, element, { option: option.value }, toggle);
      });
      menu.append(item);
    }
    wrap.append(toggle, menu);
    return wrap;
  }

  function optionsOf(element) {
    const groups = element.option_groups
      ? element.option_groups.map((g) => ({ label: plain(g.label), options: g.options || [] }))
      : [{ label: null, options: element.options || [] }];
    if (/users_select$/.test(element.type)) {
      const people = (S.state && S.state.people) || [];
      return [{ label: null, options: people.map((p) => ({ value: p.id, text: { text: p.real_name } })) }];
    }
    if (/(conversations|channels)_select$/.test(element.type)) {
      const channels = (S.state && S.state.channels) || {};
      return [{ label: null, options: Object.entries(channels).map(([id, name]) => ({ value: id, text: { text: "#" + name } })) }];
    }
    return groups;
  }

  function initialValues(element) {
    const single = element.initial_option ? [element.initial_option.value]
      : element.initial_user ? [element.initial_user]
      : element.initial_conversation ? [element.initial_conversation]
      : element.initial_channel ? [element.initial_channel] : [];
    const many = (element.initial_options || []).map((o) => o.value)
      .concat(element.initial_users || [], element.initial_conversations || [], element.initial_channels || []);
    return new Set(single.concat(many));
  }

  function renderSelect(element, attrs) {
    const multiple = element.type.startsWith("multi_");
    const select = el("select", { ...attrs, className: "bk-select", multiple });
    const chosen = initialValues(element);
    if (!multiple) {
      select.append(el("option", { value: "", disabled: true, selected: chosen.size === 0 },
        plain(element.placeholder) || "Select an item"));
    }
    for (const group of optionsOf(element)) {
      const holder = group.label ? el("optgroup", { label: group.label }) : select;
      for (const option of group.options) {
        holder.append(el("option", { value: option.value, selected: chosen.has(option.value) },
          plain(option.text)));
      }
      if (holder !== select) select.append(holder);
    }
    return select;
  }

  function renderPicker(element, attrs) {
    const isDate = element.type === "datepicker";
    return el("input", {
      ...attrs, className: "bk-input", type: isDate ? "date" : "time",
      value: (isDate ? element.initial_date : element.initial_time) || undefined,
    });
  }

  function renderChoices(element, attrs) {
    const radio = element.type === "radio_buttons";
    const name = `${attrs["data-block-id"]}-${element.action_id}`;
    const chosen = new Set(radio
      ? (element.initial_option ? [element.initial_option.value] : [])
      : (element.initial_options || []).map((o) => o.value));
    const group = el("div", { ...attrs, className: "bk-choices", role: radio ? "radiogroup" : "group" });
    for (const option of element.options || []) {
      group.append(el("label", { className: "bk-choice" },
        el("input", { type: radio ? "radio" : "checkbox", name, value: option.value,
          checked: chosen.has(option.value) }),
        el("span", {}, textObject(option.text)),
        option.description && el("span", { className: "choice-description" }, plain(option.description))));
    }
    return group;
  }

  function selection(element, select) {
    const values = Array.from(select.selectedOptions).map((o) => o.value).filter(Boolean);
    const kind = element.type.replace(/^multi_/, "");
    const many = element.type.startsWith("multi_");
    const key = { static_select: "option", users_select: "user", conversations_select: "conversation", channels_select: "channel" }[kind];
    const manyKey = { option: "options", user: "users", conversation: "conversations", channel: "channels" }[key];
    return many ? { [manyKey]: values } : { [key]: values[0] || "" };
  }

  function choices(element, group) {
    const values = Array.from(group.querySelectorAll("input:checked")).map((i) => i.value);
    return element.type === "radio_buttons" ? { option: values[0] || "" } : { options: values };
  }

  // -- inputs in modals -----------------------------------------------------------------------

  function renderInput(block, ctx) {
    const element = block.element || {};
    const id = `input-${block.block_id}-${element.action_id}`;
    const attrs = { ...controlAttrs(element, block.block_id, "modal-input"), id };
    let control;
    switch (element.type) {
      case "plain_text_input":
        control = element.multiline
          ? el("textarea", { ...attrs, className: "bk-input", rows: 3 })
          : el("input", { ...attrs, className: "bk-input", type: "text" });
        if (element.initial_value) control.value = element.initial_value;
        if (element.placeholder) control.placeholder = plain(element.placeholder);
        if (element.max_length) control.maxLength = element.max_length;
        break;
      case "number_input":
      case "email_text_input":
      case "url_text_input": {
        const type = { number_input: "number", email_text_input: "email", url_text_input: "url" }[element.type];
        control = el("input", { ...attrs, className: "bk-input", type,
          placeholder: element.placeholder ? plain(element.placeholder) : undefined });
        if (element.initial_value) control.value = element.initial_value;
        break;
      }
      case "datepicker":
      case "timepicker":
        control = renderPicker(element, attrs);
        break;
      case "checkboxes":
      case "radio_buttons":
        control = renderChoices(element, attrs);
        break;
      default:
        if (/select$/.test(element.type)) control = renderSelect(element, attrs);
        else control = el("span", { className: "unsupported" }, `(${element.type})`);
    }
    return el("div", {
      className: "block block-input", "data-testid": "modal-field", "data-block-id": block.block_id,
    },
    el("label", { className: "input-label", for: id }, plain(block.label),
      block.optional && el("span", { className: "optional" }, " (optional)")),
    control,
    block.hint && el("div", { className: "input-hint" }, plain(block.hint)),
    el("div", { className: "input-error", "data-testid": "modal-field-error", hidden: true }));
  }

  function readInputs(root) {
    const values = {};
    for (const control of root.querySelectorAll('[data-testid="modal-input"]')) {
      const { blockId, actionId, type } = control.dataset;
      let value;
      if (type === "checkboxes") value = Array.from(control.querySelectorAll("input:checked")).map((i) => i.value);
      else if (type === "radio_buttons") value = (control.querySelector("input:checked") || {}).value || "";
      else if (control.multiple) value = Array.from(control.selectedOptions).map((o) => o.value);
      else value = control.value;
      (values[blockId] = values[blockId] || {})[actionId] = value;
    }
    return values;
  }

  // -- the server ------------------------------------------------------------------------------

  async function post(path, body) {
    try {
      const response = await fetch(API + path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ as: S.me, ...body }),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok && answer.ok === undefined) answer.ok = false;
      if (!response.ok && !answer.error) answer.error = `The sandbox answered HTTP ${response.status}.`;
      return answer;
    } catch (err) {
      return { ok: false, error: "The sandbox isn't answering. Is it still running?" };
    }
  }

  async function act(ctx, blockId, element, selected, control) {
    const body = { action_id: element.action_id, block_id: blockId, selected };
    if (ctx.view_id) body.view_id = ctx.view_id;
    else body.message_ts = ctx.message_ts;
    if (control) control.classList.add("busy");
    const answer = await post("action", body);
    if (control) control.classList.remove("busy");
    if (!answer.ok) toast(answer.error || "That didn't work.");
    refreshNow();
  }

  function refreshNow() {
    S.version = null;
    S.pollGeneration += 1;
    if (S.pollController) S.pollController.abort();
  }

  async function pollForever() {
    for (;;) {
      const generation = S.pollGeneration;
      S.pollController = new AbortController();
      const since = S.version === null ? "" : `&since=${S.version}`;
      try {
        const response = await fetch(`${API}state?as=${encodeURIComponent(S.me)}${since}`, {
          signal: S.pollController.signal, cache: "no-store",
        });
        const state = await response.json();
        if (generation !== S.pollGeneration) continue;
        if (!response.ok) {
          toast(state.error || `The sandbox answered HTTP ${response.status}.`);
          await sleep(2000);
          continue;
        }
        apply(state);
      } catch (err) {
        if (err.name !== "AbortError") await sleep(1000);
      }
    }
  }

  // -- drawing the state ------------------------------------------------------------------------

  function apply(state) {
    S.state = state;
    S.version = state.version;
    document.body.dataset.version = state.version;
    document.body.dataset.me = state.me.id;
    const me = state.me;
    // Each person sees the channel from their own organisation's workspace, as in Slack.
    $("workspace-name").textContent = me.organisation || state.workspace;
    $("channel-link-name").textContent = state.channel.name;
    $("channel-link-shared").hidden = !state.channel.shared;
    $("channel-title").textContent = "# " + state.channel.name;
    $("channel-members").textContent = `${state.channel.members} members and ${state.bot.name}`;
    const others = state.channel.organisations.filter((o) => o !== me.organisation);
    $("channel-shared").hidden = !state.channel.shared;
    $("channel-shared").textContent = state.channel.shared ? `Shared with ${others.join(", ")}` : "";
    $("app-name").textContent = state.bot.name;
    $("home-title").textContent = state.bot.name;
    $("composer").placeholder = me.slash_commands
      ? `Message #${state.channel.name}, or type /tonomo help`
      : `Message #${state.channel.name}, or mention @${state.bot.name} help`;
    $("composer-help").textContent = "Enter sends, Shift+Enter adds a line. Mention people as "
      + `@alice, the app as @${state.bot.name}${me.slash_commands ? " (or type /tonomo)" : ""}.`;
    $("thread-channel").textContent = "# " + state.channel.name;
    renderSwitcher(state);
    renderHomeLink(state);
    renderMessages(state);
    renderThread(state);
    renderHome(state);
    renderModal(state);
  }

  function renderHomeLink(state) {
    const link = $("home-tab-link");
    const note = $("home-unavailable");
    const none = !state.me.home;
    link.classList.toggle("disabled", none);
    if (none) link.setAttribute("aria-disabled", "true");
    else link.removeAttribute("aria-disabled");
    link.title = none ? state.me.no_home : "";
    note.hidden = !none;
    note.textContent = none ? state.me.no_home : "";
    if (none && S.pane === "home") showPane("channel");
  }

  // People grouped by organisation: the customer's (Slack Connect) and the workspace that
  // installed the app.
  function renderSwitcher(state) {
    const key = JSON.stringify(state.people);
    const switcher = $("person-switcher");
    if (key !== S.people) {
      S.people = key;
      const groups = new Map();
      for (const p of state.people) {
        const label = p.organisation
          ? `${p.organisation} · ${p.external ? "another organisation (Slack Connect)" : `installed ${state.bot.name}`}`
          : "";
        if (!groups.has(label)) groups.set(label, []);
        groups.get(label).push(el("option", {
          value: p.id, "data-name": p.name, "data-organisation": p.organisation,
          "data-external": p.external ? "true" : "false",
        }, `${p.real_name}${p.title ? ` (${p.title.toLowerCase()})` : ""}`));
      }
      switcher.replaceChildren(...Array.from(groups, ([label, options]) =>
        (label ? el("optgroup", { label }, options) : options)).flat());
    }
    switcher.value = state.me.id;
    const me = state.me;
    $("me-organisation").replaceChildren(
      el("span", { className: `org-badge${me.external ? " external" : ""}`, "data-testid": "my-org-badge" },
        me.organisation || state.workspace),
      el("span", { className: "org-note" }, me.external
        ? `Slack Connect: no /tonomo and no Home tab for ${state.bot.name}; mention @${state.bot.name} or use its buttons.`
        : `Installed ${state.bot.name}: /tonomo and its Home tab work.`));
  }

  function avatar(author) {
    if (author.is_bot) return el("div", { className: "avatar bot", "aria-hidden": "true" }, author.id === "USLACKBOT" ? "💬" : "📅");
    let hash = 0;
    for (const ch of author.id) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    const initials = author.name.split(/\s+/).map((w) => w[0] || "").join("").slice(0, 2).toUpperCase();
    const node = el("div", { className: "avatar", "aria-hidden": "true" }, initials);
    node.style.background = AVATAR_COLOURS[hash % AVATAR_COLOURS.length];
    return node;
  }

  const when = (ts) => new Date(parseFloat(ts) * 1000);
  const clock = (ts) => when(ts).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  // The gutter's time, as Slack shows it on hover: the hour and minutes, without AM/PM.
  const shortClock = (ts) => clock(ts).replace(/\s*[AaPp]\.?\s?[Mm]\.?$/, "");

  function dayLabel(ts) {
    const day = when(ts);
    const today = new Date();
    const yesterday = new Date(today.getTime() - 86400000);
    if (day.toDateString() === today.toDateString()) return "Today";
    if (day.toDateString() === yesterday.toDateString()) return "Yesterday";
    return day.toLocaleDateString([], { weekday: "long", month: "long", day: "numeric" });
  }

  const isTopLevel = (m) => !m.thread_ts || m.thread_ts === m.ts;
  const repliesTo = (messages, ts) => messages.filter((m) => m.thread_ts === ts && m.ts !== ts);
  // Someone else's message can start a thread; an ephemeral one can't.
  const threadable = (m) => !m.ephemeral && isTopLevel(m);

  // `thread`: {replies, shown} for a message in the channel (its thread's summary), or null.
  function renderMessage(message, continued, thread) {
    const ctx = { surface: "message", message_ts: message.ts };
    const author = message.author;
    const mine = S.state && S.state.me;
    const foreign = !author.is_bot && author.organisation && mine && author.organisation !== mine.organisation;
    // A person's message carries its text as rich_text blocks; the text is the same.
    const blocks = message.blocks.filter((b) => b.type !== "rich_text");
    const body = el("div", { className: "message-body" },
      !continued && el("div", { className: "message-head" },
        el("span", { className: "author", "data-testid": "message-author" }, author.name),
        author.is_bot && el("span", { className: "app-badge" }, "APP"),
        foreign && el("span", { className: "org-badge small external", "data-testid": "org-badge",
          title: `${author.name} is in ${author.organisation}, another organisation` }, author.organisation),
        el("time", { className: "time", datetime: when(message.ts).toISOString() }, clock(message.ts))),
      message.ephemeral && el("div", { className: "ephemeral-note", "data-testid": "ephemeral-note" },
        el("span", { "aria-hidden": "true" }, "👁 "), "Only visible to you"),
      el("div", { className: "message-content", "data-testid": "message-content" },
        blocks.length ? renderBlocks(blocks, ctx) : el("div", { className: "mrkdwn" }, mrkdwn(message.text))),
      thread && thread.replies.length > 0 && threadSummary(message, thread.replies));
    const tools = thread && el("div", { className: "message-tools" },
      el("button", {
        type: "button", className: "tool", "data-testid": "reply-in-thread", title: "Reply in thread",
        "aria-label": "Reply in thread", onclick: () => openThread(message.ts),
      }, "💬 Reply in thread"));
    return el("div", {
      className: `message${message.ephemeral ? " ephemeral" : ""}${continued ? " continued" : ""}${S.thread === message.ts && thread ? " in-open-thread" : ""}`,
      "data-testid": "message",
      "data-ts": message.ts,
      "data-thread-ts": message.thread_ts || undefined,
      "data-author": author.id,
      "data-ephemeral": message.ephemeral ? "true" : "false",
      "data-edited": message.edited ? "true" : "false",
    }, continued ? el("div", { className: "gutter" }, el("time", {
      className: "time", "data-testid": "gutter-time", datetime: when(message.ts).toISOString(),
      title: clock(message.ts),
    }, shortClock(message.ts))) : avatar(author), body, tools);
  }

  // Under a message: its replies (Slack counts real ones; ephemeral answers in the thread are
  // only the viewer's), and a way into the thread.
  function threadSummary(message, replies) {
    const real = replies.filter((r) => !r.ephemeral).length;
    const mine = replies.length - real;
    const parts = [];
    if (real) parts.push(`${real} ${real === 1 ? "reply" : "replies"}`);
    if (mine) parts.push(`${mine} only visible to you`);
    return el("button", {
      type: "button", className: "thread-summary", "data-testid": "thread-replies",
      onclick: () => openThread(message.ts),
    }, parts.join(" · "), el("span", { className: "thread-view" }, "View thread"));
  }

  function openThread(ts) {
    S.thread = ts;
    S.threadKey = null;
    if (S.state) {
      renderMessages(S.state);
      renderThread(S.state);
    }
    // The pane narrows the channel: keep the thread's first message in sight.
    const parent = S.nodes.get(ts);
    if (parent) parent.node.scrollIntoView({ block: "nearest" });
    $("thread-composer").focus();
  }

  function closeThread() {
    S.thread = null;
    S.threadKey = null;
    if (S.state) {
      renderMessages(S.state);
      renderThread(S.state);
    }
  }

  // The open thread: its first message, then its replies (ephemeral ones in it too).
  function renderThread(state) {
    const pane = $("thread-pane");
    const parent = S.thread && state.messages.find((m) => m.ts === S.thread);
    if (!parent || S.pane !== "channel") {
      if (!parent) S.thread = null;
      pane.hidden = true;
      S.threadKey = null;
      return;
    }
    pane.hidden = false;
    const replies = repliesTo(state.messages, parent.ts);
    const key = JSON.stringify([parent, replies, state.me.id]);
    if (key === S.threadKey) return;
    S.threadKey = key;
    const list = $("thread-list");
    const count = replies.filter((r) => !r.ephemeral).length;
    list.replaceChildren(
      renderMessage(parent, false, null),
      el("div", { className: "thread-divider", "data-testid": "thread-count" },
        el("span", {}, count ? `${count} ${count === 1 ? "reply" : "replies"}` : "No replies yet")),
      ...replies.map((m, i) => renderMessage(m, i > 0 && replies[i - 1].author.id === m.author.id
        && replies[i - 1].ephemeral === m.ephemeral, null)));
    list.scrollTop = list.scrollHeight;
  }

  function renderMessages(state) {
    const list = $("message-list");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
    const wanted = [];
    const nodes = new Map();
    let lastDay = null;
    let previous = null;
    const channel = state.messages.filter(isTopLevel);
    if (!channel.length) {
      wanted.push(el("div", { className: "empty", "data-testid": "empty-channel" },
        `No messages yet. Mention @${state.bot.name} help below.`));
    }
    for (const message of channel) {
      const day = dayLabel(message.ts);
      if (day !== lastDay) {
        wanted.push(el("div", { className: "day-divider" }, el("span", {}, day)));
        lastDay = day;
        previous = null;
      }
      const continued = previous !== null && previous.author.id === message.author.id
        && previous.ephemeral === message.ephemeral
        && parseFloat(message.ts) - parseFloat(previous.ts) < 300;
      const thread = threadable(message) ? { replies: repliesTo(state.messages, message.ts) } : null;
      const sig = JSON.stringify([message, continued, thread, S.thread === message.ts, state.me.organisation]);
      const known = S.nodes.get(message.ts);
      let node;
      if (known && known.sig === sig) {
        node = known.node;
      } else {
        node = renderMessage(message, continued, thread);
        if (known && JSON.stringify(known.message.blocks) !== JSON.stringify(message.blocks)) {
          node.classList.add("updated"); // edited in place: a short highlight
        }
      }
      nodes.set(message.ts, { sig, node, message });
      wanted.push(node);
      previous = message;
    }
    S.nodes = nodes;
    const current = Array.from(list.children);
    const same = current.length === wanted.length && current.every((n, i) => n === wanted[i]
      || (n.className === "day-divider" && wanted[i].className === "day-divider" && n.textContent === wanted[i].textContent));
    if (!same) list.replaceChildren(...wanted);
    if (!S.scrolledOnce || atBottom) {
      list.scrollTop = list.scrollHeight;
      S.scrolledOnce = true;
    }
  }

  function renderHome(state) {
    const root = $("home-view");
    const home = state.home;
    const key = home ? `${home.id}:${home.hash}` : "none";
    if (key === S.homeKey) return;
    S.homeKey = key;
    if (!home) {
      root.replaceChildren(el("div", { className: "empty" }, `${state.bot.name} hasn't published a Home tab for you yet.`));
      return;
    }
    root.replaceChildren(el("div", { className: "home-blocks", "data-view-id": home.id },
      renderBlocks(home.blocks, { surface: "home", view_id: home.id })));
  }

  function renderModal(state) {
    const root = $("modal-root");
    const view = state.modal;
    const key = view ? `${view.id}:${view.hash}` : null;
    if (key === S.modalKey) return;
    S.modalKey = key;
    if (!view) {
      root.replaceChildren();
      return;
    }
    const form = el("form", { className: "modal-body", novalidate: true },
      renderBlocks(view.blocks, { surface: "modal", view_id: view.id }));
    const error = el("div", { className: "modal-error", "data-testid": "modal-error", hidden: true });
    const close = el("button", { type: "button", className: "bk-button", "data-testid": "modal-close" },
      plain(view.close) || (view.submit ? "Cancel" : "Close"));
    const submit = view.submit && el("button", {
      type: "submit", className: "bk-button primary", "data-testid": "modal-submit", form: "modal-form",
    }, plain(view.submit));
    form.id = "modal-form";
    const closeModal = async () => {
      const answer = await post("close", { view_id: view.id });
      if (!answer.ok) toast(answer.error || "The modal could not be closed.");
      refreshNow();
    };
    close.addEventListener("click", closeModal);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!submit || submit.disabled) return;
      submit.disabled = true;
      showErrors(form, error, {}, null);
      const answer = await post("submit", { view_id: view.id, values: readInputs(form) });
      submit.disabled = false;
      if (!answer.ok) showErrors(form, error, answer.errors || {}, answer.error);
      refreshNow();
    });
    const x = el("button", { type: "button", className: "modal-x", "data-testid": "modal-x", "aria-label": "Close" }, "×");
    x.addEventListener("click", closeModal);
    const dialog = el("div", {
      className: "modal", role: "dialog", "aria-modal": "true", "aria-labelledby": "modal-title",
      "data-testid": "modal", "data-view-id": view.id, "data-callback-id": view.callback_id,
    },
    el("header", { className: "modal-head" },
      el("h2", { id: "modal-title", "data-testid": "modal-title" }, plain(view.title)), x),
    error, form,
    el("footer", { className: "modal-foot" }, close, submit));
    root.replaceChildren(el("div", { className: "backdrop", "data-testid": "modal-backdrop" }, dialog));
    const first = form.querySelector("input, select, textarea");
    if (first) first.focus();
  }

  function showErrors(form, box, errors, message) {
    for (const field of form.querySelectorAll('[data-testid="modal-field"]')) {
      const text = errors[field.dataset.blockId];
      const slot = field.querySelector('[data-testid="modal-field-error"]');
      slot.textContent = text || "";
      slot.hidden = !text;
      field.classList.toggle("has-error", Boolean(text));
    }
    const known = new Set(Array.from(form.querySelectorAll('[data-testid="modal-field"]')).map((f) => f.dataset.blockId));
    const stray = Object.entries(errors).filter(([id]) => !known.has(id)).map(([, text]) => text);
    const text = [message, ...stray].filter(Boolean).join(" ");
    box.textContent = text;
    box.hidden = !text;
  }

  function confirmDialog(confirm) {
    return new Promise((resolve) => {
      const done = (answer) => { $("confirm-root").replaceChildren(); resolve(answer); };
      const ok = el("button", {
        type: "button", "data-testid": "confirm-ok",
        className: `bk-button ${confirm.style === "danger" ? "danger-solid" : "primary"}`,
      }, plain(confirm.confirm) || "Yes");
      const cancel = el("button", { type: "button", className: "bk-button", "data-testid": "confirm-cancel" },
        plain(confirm.deny) || "Cancel");
      ok.addEventListener("click", () => done(true));
      cancel.addEventListener("click", () => done(false));
      $("confirm-root").replaceChildren(el("div", { className: "backdrop confirm" },
        el("div", { className: "modal small", role: "alertdialog", "data-testid": "confirm-dialog" },
          el("header", { className: "modal-head" }, el("h2", {}, plain(confirm.title) || "Are you sure?")),
          el("div", { className: "modal-body" }, textObject(confirm.text)),
          el("footer", { className: "modal-foot" }, cancel, ok))));
      ok.focus();
    });
  }

  // -- panes, the person, the composer --------------------------------------------------------

  function showPane(pane) {
    S.pane = pane;
    $("channel-pane").hidden = pane !== "channel";
    $("home-pane").hidden = pane !== "home";
    $("channel-link").classList.toggle("active", pane === "channel");
    $("home-tab-link").classList.toggle("active", pane === "home");
    if (pane !== "channel") $("thread-pane").hidden = true;
    else if (S.state) renderThread(S.state);
    saveLocation();
    if (pane === "home") openHome();
    else $("composer").focus();
  }

  async function openHome() {
    const answer = await post("home", {});
    if (!answer.ok) toast(answer.error || "The Home tab could not be opened.");
    refreshNow();
  }

  function saveLocation() {
    const params = new URLSearchParams(location.search);
    const person = S.state && S.state.people.find((p) => p.id === S.me);
    params.set("as", person ? person.name : S.me);
    if (S.pane === "home") params.set("tab", "home");
    else params.delete("tab");
    history.replaceState(null, "", `?${params}${location.hash}`);
  }

  function switchTo(person) {
    S.me = person;
    S.nodes = new Map();
    S.modalKey = null;
    S.homeKey = null;
    S.threadKey = null;
    S.scrolledOnce = false;
    $("modal-root").replaceChildren();
    saveLocation();
    refreshNow();
    if (S.pane === "home") openHome();
  }

  // What the composer suggests: `/tonomo …` to those who have the command, `@Tonomo …` (the
  // same grammar, as a mention) to everyone.
  function hintsFor(typed) {
    const bot = (S.state && S.state.bot.name) || "Tonomo";
    const slash = !S.state || S.state.me.slash_commands;
    if (typed.startsWith("/")) return slash ? COMMANDS : [];
    if (!typed.startsWith("@") || !("@" + bot.toLowerCase()).startsWith(typed.split(" ")[0])) return [];
    return COMMANDS.map(([cmd, what]) => [cmd.replace(/^\/tonomo/, "@" + bot), what]);
  }

  function updateHints() {
    const box = $("command-hints");
    const text = $("composer").value;
    const typed = text.trimStart().toLowerCase();
    const known = text.includes("\n") ? [] : hintsFor(typed);
    const matches = known.filter(([cmd]) => cmd.toLowerCase().startsWith(typed)
      || (typed.length > 1 && typed.startsWith("/") && cmd.includes(typed.slice(1)))).slice(0, 8);
    if (!matches.length || known.some(([cmd]) => cmd.toLowerCase() === typed)) {
      box.hidden = true;
      return;
    }
    box.replaceChildren(...matches.map(([cmd, what]) => {
      const item = el("li", {}, el("button", { type: "button", "data-testid": "command-hint", "data-command": cmd },
        el("strong", {}, cmd), el("span", {}, what)));
      item.querySelector("button").addEventListener("click", () => {
        $("composer").value = cmd;
        box.hidden = true;
        $("composer").focus();
      });
      return item;
    }));
    box.hidden = false;
  }

  async function sendReply() {
    const composer = $("thread-composer");
    const text = composer.value.trim();
    if (!text || !S.thread) return;
    const button = $("thread-send-button");
    button.disabled = true;
    const answer = await post("send", { text, thread_ts: S.thread });
    button.disabled = false;
    if (answer.ok || answer.kind) {
      composer.value = "";
      composer.style.height = "";
    }
    if (!answer.ok && !answer.kind) toast(answer.error || "That could not be sent.");
    refreshNow();
  }

  async function sendComposer() {
    const composer = $("composer");
    const text = composer.value.trim();
    if (!text) return;
    const button = $("send-button");
    button.disabled = true;
    const answer = await post("send", { text });
    button.disabled = false;
    S.scrolledOnce = false; // what one sends, one sees: the channel scrolls to its end
    if (answer.ok || answer.kind) {
      composer.value = "";
      composer.style.height = "";
      $("command-hints").hidden = true;
    }
    if (!answer.ok && !answer.kind) toast(answer.error || "That could not be sent.");
    refreshNow();
  }

  function start() {
    const params = new URLSearchParams(location.search);
    S.me = params.get("as") || ""; // a name or a user id
    S.pane = params.get("tab") === "home" || location.hash === "#home" ? "home" : "channel";

    $("person-switcher").addEventListener("change", (ev) => switchTo(ev.target.value));
    $("channel-link").addEventListener("click", (ev) => { ev.preventDefault(); showPane("channel"); });
    $("home-tab-link").addEventListener("click", (ev) => {
      ev.preventDefault();
      if (S.state && !S.state.me.home) toast(S.state.me.no_home);
      else showPane("home");
    });
    $("thread-close").addEventListener("click", closeThread);
    $("thread-form").addEventListener("submit", (ev) => { ev.preventDefault(); sendReply(); });
    const threadComposer = $("thread-composer");
    threadComposer.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        sendReply();
      }
    });
    threadComposer.addEventListener("input", () => {
      threadComposer.style.height = "";
      threadComposer.style.height = `${Math.min(threadComposer.scrollHeight, 200)}px`;
    });
    $("composer-form").addEventListener("submit", (ev) => { ev.preventDefault(); sendComposer(); });
    const composer = $("composer");
    composer.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        sendComposer();
      } else if (ev.key === "Escape") {
        $("command-hints").hidden = true;
      }
    });
    composer.addEventListener("input", () => {
      composer.style.height = "";
      composer.style.height = `${Math.min(composer.scrollHeight, 200)}px`;
      updateHints();
    });
    document.addEventListener("click", () => {
      document.querySelectorAll(".overflow-menu").forEach((m) => { m.hidden = true; });
    });
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && $("confirm-root").firstChild) {
        const cancel = document.querySelector('[data-testid="confirm-cancel"]');
        if (cancel) cancel.click();
      }
    });

    // The first answer says who `as` names (nobody named: the first person); then polling.
    const first = (who) => fetch(`${API}state?as=${encodeURIComponent(who)}`, { cache: "no-store" })
      .then((response) => response.json().then((state) => ({ response, state })));
    first(S.me)
      .then(({ response, state }) => {
        if (response.ok) return state;
        toast(`${state.error || "Unknown person"}: acting as someone else.`);
        return first("").then((again) => again.state);
      })
      .then((state) => {
        S.me = state.me.id;
        apply(state);
        showPane(S.pane);
        pollForever();
      })
      .catch(() => toast("The sandbox isn't answering. Is it still running?"));
  }

  // For tests in a browser: the renderers alone, to draw any Block Kit without the bot.
  window.SandboxPage = Object.freeze({ mrkdwn, renderBlocks });

  start();
})();
