// Enhancement only: every page works without it. Move focus to the error summary so screen readers and
// keyboard users land on the list of problems (the links in it lead to each field).
(function () {
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
