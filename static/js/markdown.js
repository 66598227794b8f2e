/* Model output as sanitised Markdown, or as plain text. No build step.
 *
 *   RankForgeText.render(container, text, {markdown: true});
 *
 * markdown-it (static/vendor/markdown-it) renders with raw HTML off, so "<script>" or
 * "<img onerror=...>" in a completion comes out as visible text. DOMPurify (static/vendor/dompurify)
 * then keeps only the tags and attributes below, and its output is inserted as a DOM fragment:
 * nothing a completion holds is ever executed, whichever of the two might one day let it through.
 * Images are not rendered (a remote image would tell its server who read the reply): "![a](u)"
 * shows as a link. Links open in a new tab with rel="noopener noreferrer". Every block gets
 * dir="auto", so right-to-left text reads right to left. Without the libraries (a blocked file),
 * text is shown plain.
 */
(function () {
  "use strict";

  const ALLOWED_TAGS = [
    "p", "br", "hr", "em", "strong", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a",
  ];
  const BLOCKS = "p, li, blockquote, h1, h2, h3, h4, h5, h6, th, td, pre";
  const PURIFY = {
    ALLOWED_TAGS,
    ALLOWED_ATTR: ["href", "title", "start", "class"],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
    RETURN_DOM_FRAGMENT: true,
  };

  let markdown = null;
  function renderer() {
    if (markdown === null) {
      if (typeof window.markdownit !== "function" || !window.DOMPurify || !window.DOMPurify.isSupported) {
        markdown = false;
        return markdown;
      }
      markdown = window.markdownit({ html: false, linkify: true, breaks: true, typographer: false });
      markdown.disable("image");
      window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
        if (node.tagName === "A" && node.hasAttribute("href")) {
          node.setAttribute("target", "_blank");
          node.setAttribute("rel", "noopener noreferrer");
        }
        if (node.hasAttribute("class") && !(node.tagName === "CODE" && /^language-[\w+#.-]{1,30}$/.test(node.getAttribute("class")))) {
          node.removeAttribute("class");
        }
      });
    }
    return markdown;
  }

  function plain(container, text) {
    const block = document.createElement("div");
    block.className = "prose";
    block.dir = "auto";
    block.textContent = text;
    container.append(block);
  }

  function render(container, text, options = {}) {
    container.replaceChildren();
    container.dir = "auto";
    container.classList.toggle("markdown", Boolean(options.markdown));
    const source = String(text ?? "");
    const md = options.markdown ? renderer() : false;
    if (!md) return plain(container, source);
    const fragment = window.DOMPurify.sanitize(md.render(source), PURIFY);
    for (const block of fragment.querySelectorAll(BLOCKS)) block.setAttribute("dir", "auto");
    for (const pre of fragment.querySelectorAll("pre")) {
      pre.className = "code";
      pre.tabIndex = 0; // a wide code block scrolls by keyboard too
    }
    for (const table of fragment.querySelectorAll("table")) {
      const wrap = document.createElement("div");
      wrap.className = "table-wrap";
      wrap.tabIndex = 0;
      table.replaceWith(wrap);
      wrap.append(table);
    }
    container.append(fragment);
  }

  window.RankForgeText = { render };
})();
