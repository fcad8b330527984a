using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Grains.Inference;

/// <summary>A published version in grain storage: what it is, its parameters and its vocabulary.</summary>
[GenerateSerializer, Alias("ModelVersionState")]
public sealed class ModelVersionState
{
    [Id(0)] public ModelVersionInfo? Info { get; set; }

    [Id(1)] public List<NamedTensor> Parameters { get; set; } = [];

    [Id(2)] public byte[]? Vocabulary { get; set; }
}

[GenerateSerializer, Alias("ModelCatalogState")]
public sealed class ModelCatalogState
{
    [Id(0)] public Dictionary<string, ModelVersionInfo> Versions { get; set; } = [];
}
