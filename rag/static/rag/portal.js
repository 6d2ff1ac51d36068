// Emanet portal: streaming answers with citation popups, feedback, uploads with live status.
// Plain JavaScript, no build step. Everything user-visible comes translated from the page (#ui-strings).
"use strict";

(function () {
  const T = JSON.parse(document.getElementById("ui-strings")?.textContent || "{}");

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function el(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The API answers errors as JSON, or as one SSE "error" event when the request accepted an event stream.
  async function errorMessage(response) {
    try {
      const text = await response.text();
      const data = text.startsWith("event:") ? (text.match(/^data: (.*)$/m) || [])[1] : text;
      const body = JSON.parse(data);
      if (body && body.detail) return body.detail;
    } catch (e) { /* neither */ }
    return T.error;
  }

  // --- answers -----------------------------------------------------------------------------------------
  // Render answer text safely (textContent only) and turn [n] into buttons that open source n.
  function renderAnswer(container, text, citations) {
    container.textContent = "";
    const byN = new Map((citations || []).map((c) => [c.n, c]));
    const pattern = /\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]/g;
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      container.append(document.createTextNode(text.slice(last, match.index)));
      for (const part of match[1].split(",")) {
        const n = parseInt(part, 10);
        const button = el("button", { type: "button", class: "cite", "data-n": String(n) }, `[${n}]`);
        if (citations && !byN.has(n)) button.disabled = true;
        button.addEventListener("click", () => openCitation(byN.get(n)));
        container.append(button);
      }
      last = match.index + match[0].length;
    }
    container.append(document.createTextNode(text.slice(last)));
  }

  // The sources of an answer: its citations, or — from the stream's "sources" event, before the answer is
  // written — what it will cite (no passage text and no "cited" yet: listed, not clickable).
  function renderSources(container, citations, pending = false) {
    container.textContent = "";
    if (!citations || !citations.length) return;
    container.append(el("div", { class: "sources-title" }, T.sources));
    const list = el("ol");
    if (pending) {
      for (const c of citations) {
        list.append(el("li", { value: String(c.n), class: "pending" },
          c.title + (c.page ? ` (${T.page} ${c.page})` : "")));
      }
      container.append(list);
      return;
    }
    for (const c of citations) {
      const item = el("li", { value: String(c.n), class: c.cited ? "cited" : "uncited" });
      const button = el("button", { type: "button", class: "source-link", "data-n": String(c.n) },
        c.title + (c.page ? ` (${T.page} ${c.page})` : ""));
      button.addEventListener("click", () => openCitation(c));
      item.append(button);
      if (!c.cited) item.append(el("span", { class: "muted small" }, ` · ${T.not_cited}`));
      list.append(item);
    }
    container.append(list);
  }

  function openCitation(c) {
    const dialog = document.getElementById("citation-dialog");
    if (!c || !dialog) return;
    dialog.querySelector("#citation-title").textContent = `[${c.n}] ${c.title}`;
    dialog.querySelector("#citation-meta").textContent =
      [c.page ? `${T.page} ${c.page}` : "", c.section || ""].filter(Boolean).join(" · ");
    dialog.querySelector("#citation-text").textContent = c.snippet;
    const link = dialog.querySelector("#citation-link");
    if (c.document_id) {
      link.href = `/documents/${c.document_id}/` + (c.chunk_id ? `#chunk-${c.chunk_id}` : "");
      link.textContent = T.open_document;
      link.hidden = false;
    } else {
      link.hidden = true;
    }
    dialog.querySelector("#citation-close").textContent = T.close;
    dialog.showModal();
  }

  function renderFeedback(container, answerId, rating) {
    container.textContent = "";
    const choices = [["up", "👍", T.helpful], ["down", "👎", T.not_helpful]];
    for (const [value, icon, label] of choices) {
      const button = el("button", { type: "button", class: "rate", "data-rating": value, "aria-label": label,
        title: label, "aria-pressed": String(rating === value) }, icon);
      button.addEventListener("click", async () => {
        const response = await fetch(`/api/v1/answers/${answerId}/feedback`, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
          body: JSON.stringify({ rating: value }),
        });
        if (response.ok) {
          renderFeedback(container, answerId, value);
          container.append(el("span", { class: "muted small", role: "status" }, T.thanks));
        }
      });
      container.append(button);
    }
  }

  // Parse a Server-Sent Events body from fetch (EventSource cannot POST).
  async function* sseEvents(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        yield { event, data: data ? JSON.parse(data) : {} };
      }
    }
  }

  function addConversationToSidebar(id, title) {
    const list = document.getElementById("conversation-list");
    if (!list || list.querySelector(`a[href="/c/${id}/"]`)) return;
    document.getElementById("no-conversations")?.remove();
    const item = el("li");
    item.append(el("a", { href: `/c/${id}/`, "aria-current": "page" }, title.slice(0, 60)));
    list.prepend(item);
  }

  function setupChat() {
    const chat = document.getElementById("chat");
    const form = document.getElementById("ask-form");
    if (!chat || !form) return;
    // Existing turns, rendered by the server.
    for (const turn of chat.querySelectorAll(".turn")) {
      const citations = JSON.parse(turn.querySelector("script[type='application/json']").textContent);
      const answer = turn.querySelector(".answer");
      renderAnswer(answer, answer.dataset.raw, citations);
      renderSources(turn.querySelector(".sources"), citations);
      const feedback = turn.querySelector(".feedback");
      if (feedback) renderFeedback(feedback, turn.dataset.answerId, feedback.dataset.rating);
    }
    const textarea = form.querySelector("textarea");
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const question = textarea.value.trim();
      if (!question) return;
      const button = form.querySelector("#ask-button");
      button.disabled = true;
      document.getElementById("intro")?.remove();
      const turn = el("article", { class: "turn" });
      turn.append(el("div", { class: "question" }, question));
      const answer = el("div", { class: "answer streaming", "aria-live": "polite" }, T.thinking);
      const sources = el("div", { class: "sources" });
      turn.append(answer, sources);
      document.getElementById("turns").append(turn);
      turn.scrollIntoView({ block: "end" });
      textarea.value = "";
      const body = { question, stream: true };
      const conversationId = chat.dataset.conversationId;
      if (conversationId) body.conversation_id = parseInt(conversationId, 10);
      const scope = document.getElementById("collection-scope")?.value;
      if (scope) body.collections = [scope];
      let text = "";
      let citations = null;
      try {
        const response = await fetch("/api/v1/ask", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "text/event-stream" },
          body: JSON.stringify(body),
        });
        if (!response.ok) {
          answer.textContent = "";
          answer.classList.remove("streaming");
          turn.append(el("p", { class: "error", role: "alert" }, await errorMessage(response)));
          return;
        }
        for await (const { event, data } of sseEvents(response)) {
          if (event === "sources") {
            // Retrieval is done; the model is still reading. The citations replace this list at the end.
            if (data.sources.length && !text) answer.textContent = T.reading;
            renderSources(sources, data.sources, true);
          } else if (event === "token") {
            text += data.text;
            renderAnswer(answer, text, null);
          } else if (event === "citations") {
            citations = data.citations;
            renderAnswer(answer, text, citations);
            renderSources(sources, citations);
          } else if (event === "error") {
            turn.append(el("p", { class: "error", role: "alert" }, data.detail));
          } else if (event === "done") {
            turn.dataset.answerId = data.answer_id;
            if (data.not_found) answer.classList.add("notfound");
            if (data.status === "complete") {
              const feedback = el("div", { class: "feedback" });
              turn.append(feedback);
              renderFeedback(feedback, data.answer_id, "");
            }
            if (!chat.dataset.conversationId) {
              chat.dataset.conversationId = data.conversation_id;
              history.replaceState(null, "", `/c/${data.conversation_id}/`);
              addConversationToSidebar(data.conversation_id, question);
            }
          }
        }
      } catch (e) {
        turn.append(el("p", { class: "error", role: "alert" }, T.network));
      } finally {
        answer.classList.remove("streaming");
        button.disabled = false;
        textarea.focus();
      }
    });
  }

  // --- documents: live status --------------------------------------------------------------------------
  const FINAL = new Set(["ready", "failed"]);

  function statusCell(cell, doc) {
    cell.textContent = "";
    cell.append(el("span", { class: `status status-${doc.status}` }, T[doc.status] || doc.status));
    if (doc.error) cell.append(el("div", { class: "error small" }, doc.error));
  }

  function watchDocument(row, id) {
    const poll = async () => {
      let doc;
      try {
        const response = await fetch(`/api/v1/documents/${id}`, { credentials: "same-origin" });
        if (!response.ok) return;
        doc = await response.json();
      } catch (e) {
        setTimeout(poll, 4000);
        return;
      }
      row.dataset.status = doc.status;
      statusCell(row.querySelector(".status-cell") || row.children[2], doc);
      const chunks = row.querySelector(".chunks");
      if (chunks) chunks.textContent = doc.chunk_count;
      if (!FINAL.has(doc.status)) setTimeout(poll, 1500);
    };
    poll();
  }

  function setupDocuments() {
    const table = document.getElementById("documents-table");
    if (!table) return;
    for (const row of table.querySelectorAll("tbody tr")) {
      if (!FINAL.has(row.dataset.status)) {
        row.children[2].classList.add("status-cell");
        watchDocument(row, row.dataset.documentId);
      }
    }
  }

  function setupUpload() {
    const form = document.getElementById("upload-form");
    if (!form) return;
    const table = document.getElementById("upload-table");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = form.querySelector("input[type=file]");
      const collection = form.querySelector("select").value;
      table.hidden = false;
      for (const file of Array.from(input.files)) {
        const row = el("tr");
        const name = el("td", {}, file.name);
        const status = el("td", { class: "status-cell" });
        status.append(el("span", { class: "status status-queued" }, T.uploading));
        const chunks = el("td", { class: "chunks" }, "");
        row.append(name, status, chunks);
        table.querySelector("tbody").prepend(row);
        const data = new FormData();
        data.append("file", file);
        data.append("collection", collection);
        const special = document.getElementById("upload-special");
        if (special && special.checked) data.append("special_category", "true");
        try {
          const response = await fetch("/api/v1/documents", {
            method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() }, body: data,
          });
          if (!response.ok) {
            statusCell(status, { status: "failed", error: await errorMessage(response) });
            continue;
          }
          const created = await response.json();
          row.dataset.documentId = created.id;
          name.textContent = "";
          name.append(el("a", { href: `/documents/${created.id}/` }, file.name));
          if (created.duplicate) name.append(el("div", { class: "muted small" }, T.duplicate));
          watchDocument(row, created.id);
        } catch (e) {
          statusCell(status, { status: "failed", error: T.network });
        }
      }
      input.value = "";
    });
  }

  function setupPiiPreview() {
    const form = document.getElementById("pii-preview");
    if (!form) return;
    const output = document.getElementById("pii-output");
    const list = document.getElementById("pii-entities");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = document.getElementById("pii-text").value;
      list.replaceChildren();
      try {
        const response = await fetch("/api/v1/pii/analyze", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
          body: JSON.stringify({ text: text, collection: Number(form.dataset.collection) }),
        });
        if (!response.ok) throw new Error(await errorMessage(response));
        const result = await response.json();
        output.textContent = result.redacted_text;
        output.hidden = false;
        for (const e of result.entities) {
          list.append(el("li", {}, `${e.type} (${e.score.toFixed(2)}) → ${e.action}`));
        }
      } catch (e) {
        output.textContent = e.message || T.error;
        output.hidden = false;
      }
    });
  }

  // The document page: delete through the API (the one deletion path), then back to the list.
  function setupDocumentDelete() {
    const form = document.getElementById("delete-document");
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!window.confirm(form.dataset.confirm)) return;
      const alert = form.querySelector("[role=alert]");
      try {
        const response = await fetch(`/api/v1/documents/${form.dataset.document}`, {
          method: "DELETE", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() },
        });
        if (response.status !== 204) throw new Error(await errorMessage(response));
        window.location.assign(form.dataset.next);
      } catch (e) {
        alert.textContent = e.message || T.error;
        alert.hidden = false;
      }
    });
  }

  // A <select data-autosubmit> sends its form when changed (language, collection filter). Here and not in an
  // onchange attribute: the Content-Security-Policy allows no inline script.
  function setupAutosubmit() {
    for (const select of document.querySelectorAll("select[data-autosubmit]")) {
      select.addEventListener("change", () => select.form.submit());
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupAutosubmit();
    setupChat();
    setupDocuments();
    setupUpload();
    setupPiiPreview();
    setupDocumentDelete();
  });
})();
