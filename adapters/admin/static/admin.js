// Shopkeep dashboard: the only script. Everything works without it; it only
// stops a double click from sending the Retrain form twice.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.hasAttribute("data-once")) {
    for (const button of form.querySelectorAll("button")) {
      setTimeout(() => { button.disabled = true; }, 0);
    }
  }
});
