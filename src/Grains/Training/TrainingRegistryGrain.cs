using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Grains.Training;

public sealed class TrainingRegistryGrain(
    [PersistentState("registry", TrainingStorage.ProviderName)] IPersistentState<TrainingRegistryState> state)
    : Grain, ITrainingRegistryGrain
{
    public async Task<RegistryAdmission> TryAddAsync(string runId, int limit, long estimatedBytes, long clusterBudgetBytes)
    {
        var others = state.State.ActiveRuns.Where(r => r != runId).Order(StringComparer.Ordinal).ToList();
        var held = others.Sum(r => state.State.EstimatedBytes.GetValueOrDefault(r));
        if (state.State.ActiveRuns.Contains(runId))
        {
            return new RegistryAdmission(true, others, held);
        }

        if (others.Count >= limit || (double)held + estimatedBytes > clusterBudgetBytes)
        {
            return new RegistryAdmission(false, others, held);
        }

        state.State.ActiveRuns.Add(runId);
        state.State.EstimatedBytes[runId] = estimatedBytes;
        await state.WriteStateAsync();
        return new RegistryAdmission(true, others, held);
    }

    public async Task RemoveAsync(string runId)
    {
        if (state.State.ActiveRuns.Remove(runId) | state.State.EstimatedBytes.Remove(runId))
        {
            await state.WriteStateAsync();
        }
    }

    public Task<IReadOnlyList<string>> GetActiveRunsAsync() =>
        Task.FromResult<IReadOnlyList<string>>([.. state.State.ActiveRuns.Where(r => !PpoNames.IsAdmissionPlace(r)).Order(StringComparer.Ordinal)]);
}
