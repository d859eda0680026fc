// Keyboard shortcuts for the inbox's common moves. None fires while typing in a field, or with Ctrl, Alt or Meta
// held (the browser's own shortcuts stay the browser's); `?` lists them in a dialog.
import { h } from "./lib.js";
import { moveCursor, openCursor, openId } from "./inbox.js";
import { assignToMe, setStatus } from "./actions.js";

const SHORTCUTS = [
  ["j", "Next conversation", () => moveCursor(1)],
  ["k", "Previous conversation", () => moveCursor(-1)],
  ["Enter", "Open the selected conversation", openCursor],
  ["r", "Write a reply", () => {
    const reply = document.getElementById("reply-text");
    if (openId() && reply) { document.getElementById("main").classList.add("thread-open"); reply.focus(); }
  }],
  ["e", "Resolve the open conversation", () => openId() && setStatus("resolved")],
  ["a", "Assign the open conversation to me", () => openId() && assignToMe()],
  ["/", "Search", () => { const q = document.getElementById("list-q"); q.focus(); q.select(); }],
  ["?", "Show these shortcuts", help],
];

const dialog = document.getElementById("shortcuts-dialog");
document.getElementById("shortcuts-list").replaceChildren(
  ...[...SHORTCUTS, ["Esc", "Leave the field you are typing in (the shortcuts work again)"]]
    .flatMap(([key, what]) => [h("dt", {}, h("kbd", {}, key)), h("dd", {}, what)]));

function help() {
  if (!dialog.open) dialog.showModal();
}

function typing(target) {
  if (!(target instanceof Element)) return false;
  return target.isContentEditable || target.closest("input, textarea, select, [contenteditable=''],"
    + " [contenteditable=true]") !== null;
}

document.getElementById("shortcuts-help").addEventListener("click", help);

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
  if (dialog.open) return;
  if (typing(event.target)) {
    // opening a conversation puts the cursor in the reply box; Esc leaves it (a draft stays where it is)
    if (event.key === "Escape" && event.target.closest("#thread, #list-filters")) event.target.blur();
    return;
  }
  const found = SHORTCUTS.find(([key]) => key === event.key);
  if (!found) return;
  // Enter on a link or a button already does what it says
  if (event.key === "Enter" && event.target instanceof Element && event.target.closest("a, button")) return;
  event.preventDefault();
  found[2]();
});
