namespace InsideLLMs.Distributed.Client.Cli;

/// <summary>What a long job is, for <see cref="ProgressReporter"/>.</summary>
/// <param name="Title">Shown first on every progress line: "train", "download shard 3".</param>
/// <param name="Total">Units of work in the whole job, e.g. 5,000 steps.</param>
/// <param name="Unit">Name of one unit: "step" gives "step 120/5,000".</param>
/// <param name="RateUnit">
/// When set, <see cref="ProgressSnapshot.Processed"/> is shown as a rate, e.g. "tok" gives "12,345 tok/s".
/// </param>
internal sealed record ProgressJob(string Title, long Total, string Unit = "step", string? RateUnit = null);
