// Progressive enhancement only: every form works without this file.
// A ranking list gets "move up" / "move down" buttons (keyboard and touch); moving an item
// renumbers the position selects, which are what the form submits.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const list of document.querySelectorAll("ol.ranking[data-enhance]")) {
    const status = document.getElementById(list.dataset.status);
    const renumber = () => {
      list.querySelectorAll("li").forEach((item, index) => {
        const select = item.querySelector("select");
        if (select) { select.value = String(index + 1); }
      });
    };
    const move = (item, delta) => {
      const target = delta < 0 ? item.previousElementSibling : item.nextElementSibling;
      if (!target) { return; }
      if (delta < 0) { list.insertBefore(item, target); } else { list.insertBefore(target, item); }
      renumber();
      item.classList.add("moved");
      setTimeout(() => item.classList.remove("moved"), 400);
      const button = item.querySelector(delta < 0 ? "button[data-up]" : "button[data-down]");
      if (button) { button.focus(); }
      if (status) {
        const label = item.querySelector("label").textContent.trim();
        const position = Array.prototype.indexOf.call(list.children, item) + 1;
        status.textContent = list.dataset.movedText.replace("{name}", label).replace("{position}", position);
      }
    };
    for (const item of list.querySelectorAll("li")) {
      const up = document.createElement("button");
      up.type = "button"; up.className = "move"; up.dataset.up = "";
      up.textContent = "↑"; up.setAttribute("aria-label", list.dataset.upText.replace("{name}", item.querySelector("label").textContent.trim()));
      up.addEventListener("click", () => move(item, -1));
      const down = document.createElement("button");
      down.type = "button"; down.className = "move"; down.dataset.down = "";
      down.textContent = "↓"; down.setAttribute("aria-label", list.dataset.downText.replace("{name}", item.querySelector("label").textContent.trim()));
      down.addEventListener("click", () => move(item, 1));
      item.append(up, down);
    }
  }
});

// A section with data-refresh="<page path>" is replaced every data-refresh-seconds by the same
// section of a fresh copy of that page (the trader's book); without this file a plain link reloads.
// It pauses while the tab is hidden and never moves focus.
document.addEventListener("DOMContentLoaded", () => {
  for (const section of document.querySelectorAll("[data-refresh][id]")) {
    const seconds = Math.max(2, Number(section.dataset.refreshSeconds) || 5);
    const refresh = async () => {
      if (document.hidden) { return; }
      try {
        const response = await fetch(section.dataset.refresh, { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) { return; }
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById(section.id);
        if (fresh) { section.replaceChildren(...fresh.childNodes); }
      } catch (error) { /* offline for a moment: keep the last book */ }
    };
    setInterval(refresh, seconds * 1000);
  }
});
