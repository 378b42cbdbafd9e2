// Progressive enhancement only: every page works without this file.
// Elements with data-refresh="SECONDS" are re-fetched in place, so the
// dashboard stays current without a full page reload.
(function () {
  document.querySelectorAll("[data-refresh]").forEach(function (el) {
    var secs = parseInt(el.getAttribute("data-refresh"), 10) || 15;
    setInterval(function () {
      if (document.hidden) return;
      fetch(location.href, { credentials: "same-origin", headers: { "X-Outpost-Fragment": el.id } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById(el.id);
          if (fresh) el.innerHTML = fresh.innerHTML;
        })
        .catch(function () {});
    }, secs * 1000);
  });
})();
