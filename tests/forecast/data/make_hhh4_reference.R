# Real regional weekly surveillance data and R's surveillance::hhh4 fits and one-step-ahead
# forecasts of it, used by tests/forecast and benchmarks/bench_forecast.py as independent truth.
# Regenerate (needs Debian's r-base-core and r-cran-surveillance):
#   Rscript tests/forecast/data/make_hhh4_reference.R [measles|flu]...
#
# Data: measlesWeserEms (measles, 17 districts of Weser-Ems, Lower Saxony, 2001-2002, weekly)
# and fluBYBW (influenza, 140 districts of Bavaria and Baden-Wuerttemberg, 2001-2008, weekly),
# both shipped by the surveillance package (Robert Koch Institute's SurvStat data).
# Dates are the Monday each week starts (2001-W01 starts on 2001-01-01): read with
# `--date-is start`.
suppressPackageStartupMessages(library(surveillance))
out <- "tests/forecast/data"
args <- commandArgs(trailingOnly = TRUE)
if (length(args) == 0) args <- c("measles", "flu")
levels <- c(0.01, 0.025, seq(0.05, 0.95, by = 0.05), 0.975, 0.99)

export_data <- function(sts, name, population) {
  counts <- observed(sts)
  dates <- as.Date("2001-01-01") + 7 * (seq_len(nrow(counts)) - 1)
  codes <- colnames(counts)
  write.csv(data.frame(region_code = rep(codes, each = nrow(counts)),
                       date = rep(format(dates), ncol(counts)),
                       confirmed = as.vector(counts)),
            file.path(out, paste0(name, "_cases.csv")), row.names = FALSE, quote = FALSE)
  write.csv(data.frame(region_code = codes, population = population),
            file.path(out, paste0(name, "_population.csv")), row.names = FALSE, quote = FALSE)
  order <- neighbourhood(sts)
  if (max(order) <= 1) order <- nbOrder(order, maxlag = Inf)
  pairs <- which(order == 1, arr.ind = TRUE)
  pairs <- pairs[pairs[, 1] < pairs[, 2], , drop = FALSE]
  write.csv(data.frame(region = codes[pairs[, 1]], neighbour = codes[pairs[, 2]]),
            file.path(out, paste0(name, "_adjacency.csv")), row.names = FALSE, quote = FALSE)
  neighbourhood(sts) <- order
  sts
}

# The specifications: name -> hhh4 control. `pop` is the population fraction.
specs <- function(sts, S_end, S_epi) {
  popfrac <- population(sts)
  season <- function(f, S) addSeason2formula(f, S = S, period = 52)
  adjacent <- (neighbourhood(sts) == 1) / rowSums(neighbourhood(sts) == 1)
  list(
    adjacency = list(end = list(f = season(~1 + t, S_end), offset = popfrac),
                     ar = list(f = ~1), ne = list(f = ~1, weights = adjacent),
                     family = "NegBin1"),
    powerlaw = list(end = list(f = season(~1 + t, S_end), offset = popfrac),
                    ar = list(f = ~1),
                    ne = list(f = ~1 + log(pop), weights = W_powerlaw(maxlag = 5)),
                    family = "NegBin1", data = list(pop = popfrac)),
    powerlaw_negbinm = list(end = list(f = season(~1 + t, S_end), offset = popfrac),
                            ar = list(f = ~1),
                            ne = list(f = ~1 + log(pop), weights = W_powerlaw(maxlag = 5)),
                            family = "NegBinM", data = list(pop = popfrac)),
    seasonal = list(end = list(f = season(~1 + t, S_end), offset = popfrac),
                    ar = list(f = season(~1, S_epi)),
                    ne = list(f = season(~1 + log(pop), S_epi),
                              weights = W_powerlaw(maxlag = 5)),
                    family = "NegBin1", data = list(pop = popfrac))
  )
}

reference <- function(sts, name, S_end, S_epi, first, osa_specs) {
  fits <- list()
  for (spec in names(specs(sts, S_end, S_epi))) {
    control <- specs(sts, S_end, S_epi)[[spec]]
    fit <- hhh4(sts, control)
    stopifnot(fit$convergence)
    est <- coef(fit, se = TRUE, reparamPsi = FALSE)
    fits[[spec]] <- data.frame(spec = spec, parameter = rownames(est), estimate = est[, 1],
                               se = est[, 2], loglik = fit$loglikelihood,
                               max_ev = max(getMaxEV(fit)))
    cat(name, spec, "loglik", fit$loglikelihood, "\n")
  }
  write.csv(do.call(rbind, fits), file.path(out, paste0(name, "_hhh4_fits.csv")),
            row.names = FALSE)
  forecasts <- list()
  for (spec in osa_specs) {
    fit <- hhh4(sts, specs(sts, S_end, S_epi)[[spec]])
    # refit at every origin on the data up to it (rolling), then forecast one week ahead
    osa <- oneStepAhead(fit, tp = c(first, nrow(sts) - 1), type = "rolling",
                        which.start = "final", verbose = FALSE)
    size <- exp(osa$psi)
    if (ncol(size) == 1) size <- size[, rep(1, ncol(osa$pred)), drop = FALSE]
    rows <- expand.grid(week = as.integer(rownames(osa$pred)), k = seq_len(ncol(osa$pred)))
    mu <- as.vector(osa$pred)
    sz <- as.vector(size)
    q <- sapply(levels, function(p) qnbinom(p, mu = mu, size = sz))
    colnames(q) <- sprintf("q%s", format(levels, nsmall = 2, trim = TRUE))
    forecasts[[spec]] <- data.frame(spec = spec, week = rows$week,
                                    region_code = colnames(osa$pred)[rows$k],
                                    observed = as.vector(osa$observed), mean = mu, size = sz, q)
    cat(name, spec, "one-step-ahead weeks", first + 1, "to", nrow(sts), "\n")
  }
  write.csv(do.call(rbind, forecasts), file.path(out, paste0(name, "_hhh4_osa.csv")),
            row.names = FALSE)
}

if ("measles" %in% args) {
  data("measlesWeserEms")
  sts <- export_data(measlesWeserEms, "measles", measlesWeserEms@map@data$POPULATION)
  reference(sts, "measles", S_end = 1, S_epi = 1, first = 52,
            osa_specs = c("powerlaw", "seasonal"))
}
if ("flu" %in% args) {
  data("fluBYBW")
  sts <- export_data(fluBYBW, "flu", fluBYBW@map@data$X31_12_01)
  reference(sts, "flu", S_end = 3, S_epi = 1, first = 364,
            osa_specs = c("powerlaw", "seasonal"))
}
cat("surveillance", as.character(packageVersion("surveillance")), "\n")
