using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Grains.Training;

public sealed class TrainingRegistryGrain(
    [PersistentState("registry", TrainingStorage.ProviderName)] IPersistentState<TrainingRegistryState> state)
    : Grain, ITrainingRegistryGrain
{
    public async Task AddAsync(string runId)
    {
        if (state.State.ActiveRuns.Add(runId))
        {
            await state.WriteStateAsync();
        }
    }

    public async Task<bool> TryAddAsync(string runId, int limit)
    {
        if (state.State.ActiveRuns.Contains(runId))
        {
            return true;
        }

        if (state.State.ActiveRuns.Count >= limit)
        {
            return false;
        }

        state.State.ActiveRuns.Add(runId);
        await state.WriteStateAsync();
        return true;
    }

    public async Task RemoveAsync(string runId)
    {
        if (state.State.ActiveRuns.Remove(runId))
        {
            await state.WriteStateAsync();
        }
    }

    public Task<IReadOnlyList<string>> GetActiveRunsAsync() =>
        Task.FromResult<IReadOnlyList<string>>([.. state.State.ActiveRuns.Order(StringComparer.Ordinal)]);
}
