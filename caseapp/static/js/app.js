// After a refused form, move focus to the error summary so screen readers announce it and
// keyboard users start from the list of problems (each links to its field).
(function () {
  "use strict";
  var summary = document.getElementById("form-errors");
  if (summary) {
    summary.focus();
  }
})();
