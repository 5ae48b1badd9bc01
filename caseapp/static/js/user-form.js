// Account form: show only the scope fields that apply to the chosen scope.
// Progressive enhancement: without JavaScript every field stays visible and the server checks all.
(function () {
  "use strict";
  var scope = document.getElementById("scope_kind");
  if (!scope) {
    return;
  }
  function block(id) {
    var field = document.getElementById(id);
    return document.getElementById(id + "-group") || (field && field.closest("div.mb-3"));
  }
  var groups = {
    communes: block("commune_codes"),
    former_district: block("former_district_code"),
  };
  function update() {
    Object.keys(groups).forEach(function (kind) {
      if (groups[kind]) {
        groups[kind].hidden = scope.value !== kind;
      }
    });
  }
  scope.addEventListener("change", update);
  update();
})();
