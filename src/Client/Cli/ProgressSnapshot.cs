namespace InsideLLMs.Distributed.Client.Cli;

/// <summary>Where a job stands, reported by the job as often as it likes (the reporter throttles output).</summary>
/// <param name="Completed">Units done so far, out of <see cref="ProgressJob.Total"/>.</param>
/// <param name="Processed">A second running count whose rate is shown, e.g. tokens seen; 0 when unused.</param>
/// <param name="Detail">Job-specific numbers, e.g. "loss 3.214".</param>
/// <param name="Eta">
/// The job's own estimate of the time left, when it knows better than the reporter (which assumes the job started with the
/// reporter: wrong when watching a run that was already under way).
/// </param>
internal sealed record ProgressSnapshot(long Completed, long Processed = 0, string? Detail = null, TimeSpan? Eta = null);
