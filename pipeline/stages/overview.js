for (const table of document.querySelectorAll("table.runtime")) {
  const stages = (window.LENET_RUNTIME || {})[table.dataset.dataset];
  if (!stages) {
    table.insertAdjacentHTML("beforebegin", "<p>Not recorded on this machine: the train, " +
      "evaluate and export stages write reports/runtime/ when they run.</p>");
    table.remove();
    continue;
  }
  for (const stage of ["train", "evaluate", "export"].filter(name => name in stages)) {
    const f = stages[stage], row = table.insertRow();
    for (const value of [stage, f.device, f.profile_honoured ? "yes" : "no: " + f.profile_note,
                         `${f.threads.intra_op} / ${f.threads.inter_op}`, f.cpu.model,
                         f.wall_seconds, f.images_per_second ?? ""]) {
      row.insertCell().textContent = value;
    }
  }
}
