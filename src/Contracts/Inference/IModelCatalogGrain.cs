namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>The list of published versions with their metrics (key: <see cref="InferenceNames.CatalogKey"/>).</summary>
public interface IModelCatalogGrain : IGrainWithStringKey
{
    Task AddAsync(ModelVersionInfo version);

    /// <summary>Every published version, by name.</summary>
    Task<IReadOnlyList<ModelVersionInfo>> ListAsync();
}
