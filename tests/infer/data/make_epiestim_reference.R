# Reference Rt estimates from R's EpiEstim (the implementation of Cori et al. 2013), used by
# tests/infer/test_rt.py as independent truth. Regenerate (needs Debian's r-cran-epiestim):
#   Rscript tests/infer/data/make_epiestim_reference.R
library(EpiEstim)
out <- "tests/infer/data"
data("Flu2009")
write.csv(data.frame(day = seq_along(Flu2009$incidence$I), cases = Flu2009$incidence$I),
          file.path(out, "flu2009_incidence.csv"), row.names = FALSE)
data("SARS2003")
write.csv(data.frame(day = seq_along(SARS2003$incidence), cases = SARS2003$incidence),
          file.path(out, "sars2003_incidence.csv"), row.names = FALSE)
reference <- function(incidence, mean_si, std_si, name) {
  res <- estimate_R(incidence, method = "parametric_si",
                    config = make_config(list(mean_si = mean_si, std_si = std_si)))
  r <- res$R
  write.csv(data.frame(t_start = r$t_start, t_end = r$t_end, mean = r[["Mean(R)"]],
                       std = r[["Std(R)"]], q0.025 = r[["Quantile.0.025(R)"]],
                       q0.5 = r[["Median(R)"]], q0.975 = r[["Quantile.0.975(R)"]]),
            file.path(out, paste0(name, "_epiestim.csv")), row.names = FALSE)
  write.csv(data.frame(k = seq_along(res$si_distr) - 1, w = res$si_distr),
            file.path(out, paste0(name, "_si.csv")), row.names = FALSE)
}
reference(Flu2009$incidence$I, 2.6, 1.5, "flu2009")
reference(SARS2003$incidence, 8.4, 3.8, "sars2003")
cat("EpiEstim", as.character(packageVersion("EpiEstim")), "\n")
