namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>
/// The runs that should be making progress (key: "default"). Every silo's supervisor asks it periodically and wakes
/// each run, so a run whose grain was on a lost silo resumes by itself on a survivor.
/// </summary>
public interface ITrainingRegistryGrain : IGrainWithStringKey
{
    Task AddAsync(string runId);

    /// <summary>
    /// Adds the run unless <paramref name="limit"/> other runs are active already; false then, and nothing changes. One
    /// grain decides, so two starts at once cannot both take the last place.
    /// </summary>
    Task<bool> TryAddAsync(string runId, int limit);

    Task RemoveAsync(string runId);

    Task<IReadOnlyList<string>> GetActiveRunsAsync();
}
