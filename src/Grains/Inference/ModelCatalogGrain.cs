using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Grains.Inference;

/// <summary>The published versions and their metrics; written only when a version is published.</summary>
public sealed class ModelCatalogGrain(
    [PersistentState("catalog", TrainingStorage.ProviderName)] IPersistentState<ModelCatalogState> state) : Grain, IModelCatalogGrain
{
    public async Task AddAsync(ModelVersionInfo version)
    {
        ArgumentNullException.ThrowIfNull(version);
        state.State.Versions[version.Name] = version;
        await state.WriteStateAsync();
    }

    public Task<IReadOnlyList<ModelVersionInfo>> ListAsync() =>
        Task.FromResult<IReadOnlyList<ModelVersionInfo>>([.. state.State.Versions.Values.OrderBy(v => v.Name, StringComparer.Ordinal)]);
}
