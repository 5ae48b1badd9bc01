// Account form: show only the scope fields that apply to the chosen scope.
// Progressive enhancement: without JavaScript every field stays visible and the server checks all.
(function () {
  "use strict";
  var scope = document.getElementById("scope_kind");
  if (!scope) {
    return;
  }
  var groups = {
    communes: document.getElementById("commune_codes"),
    former_district: document.getElementById("former_district_code"),
  };
  function update() {
    Object.keys(groups).forEach(function (kind) {
      var field = groups[kind];
      if (field) {
        field.closest(".mb-3").hidden = scope.value !== kind;
      }
    });
  }
  scope.addEventListener("change", update);
  update();
})();
