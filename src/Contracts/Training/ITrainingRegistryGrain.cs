namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>
/// The runs that should be making progress (key: "default"). Every silo's supervisor asks it periodically and wakes
/// each run, so a run whose grain was on a lost silo resumes by itself on a survivor.
/// </summary>
public interface ITrainingRegistryGrain : IGrainWithStringKey
{
    /// <summary>
    /// Adds the run, with the memory it was estimated to take, unless <paramref name="limit"/> runs are active already
    /// or the active runs' estimates and this one's together exceed <paramref name="clusterBudgetBytes"/>; then nothing
    /// changes and the answer says which. One grain decides, so two starts at once cannot both take the last place.
    /// </summary>
    Task<RegistryAdmission> TryAddAsync(string runId, int limit, long estimatedBytes, long clusterBudgetBytes);

    Task RemoveAsync(string runId);

    /// <summary>The active runs this registry's supervisor wakes: the places PPO runs hold here are left out (their own registry lists them).</summary>
    Task<IReadOnlyList<string>> GetActiveRunsAsync();
}

/// <summary>The registry's answer to a start: admitted, or refused with the active runs and the memory they hold.</summary>
[GenerateSerializer, Immutable]
public sealed record RegistryAdmission(
    [property: Id(0)] bool Admitted,
    [property: Id(1)] IReadOnlyList<string> ActiveRuns,
    [property: Id(2)] long ActiveBytes);
