// Small progressive enhancements; every page works without this file.

// Remember the language choice in a cookie so it sticks across pages.
for (const link of document.querySelectorAll("a.lang[data-lang]")) {
  link.addEventListener("click", () => {
    document.cookie = `lang=${link.dataset.lang}; Path=/; SameSite=Lax; Max-Age=31536000`;
  });
}

// Convert UTC instants (data-utc, RFC 3339) to the reader's local time as a tooltip.
for (const el of document.querySelectorAll("time[datetime]")) {
  const d = new Date(el.getAttribute("datetime"));
  if (!Number.isNaN(d.getTime())) el.title = d.toString();
}

// "Back" on error pages returns to the previous page; without script (or history) the
// link leads home. A listener, not a javascript: URL, which the Content-Security-Policy
// forbids.
for (const link of document.querySelectorAll("a[data-back]")) {
  link.addEventListener("click", (event) => {
    if (history.length > 1) {
      event.preventDefault();
      history.back();
    }
  });
}
