using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Tokenization;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Grains.Inference;

/// <summary>Builds a <see cref="GptStage"/> (a slice or the whole model) from a version's named parameters.</summary>
public static class InferenceModels
{
    /// <summary>The stage count when the publisher gives none: two stages show the pipeline, one if there is one layer.</summary>
    public static int DefaultStages(int layers) => Math.Min(2, layers);

    /// <summary>
    /// The parameters <paramref name="stage"/> holds, picked from the whole model's: the embeddings on the first stage,
    /// its blocks, and the final norm on the last, which also needs the tied matrix as <c>lm_head.weight</c> when it
    /// does not hold the embedding itself.
    /// </summary>
    public static IReadOnlyList<NamedTensor> StageParameters(StageSpec stage, IReadOnlyList<NamedTensor> whole)
    {
        ArgumentNullException.ThrowIfNull(stage);
        ArgumentNullException.ThrowIfNull(whole);
        var prefixes = Enumerable.Range(stage.FirstBlock, stage.BlockCount).Select(layer => $"h.{layer}.").ToArray();
        var picked = whole.Where(p =>
            prefixes.Any(prefix => p.Name.StartsWith(prefix, StringComparison.Ordinal))
            || (stage.IsFirst && p.Name is "wte.weight" or "wpe.weight")
            || (stage.IsLast && p.Name.StartsWith("ln_f.", StringComparison.Ordinal))).ToList();
        if (stage.IsLast && !stage.IsFirst)
        {
            var tied = whole.FirstOrDefault(p => p.Name == "wte.weight")
                ?? throw new InvalidDataException("The version has no wte.weight, which the last stage's head needs.");
            picked.Add(tied with { Name = "lm_head.weight" });
        }

        return picked;
    }

    /// <summary>
    /// A stage in eval mode whose every parameter is copied from <paramref name="parameters"/> (shapes checked); with
    /// <see cref="StageHead.Score"/>, a reward model's scalar head instead of the language head.
    /// </summary>
    /// <exception cref="InvalidDataException">A parameter is missing or has another shape.</exception>
    public static GptStage Build(GptConfig config, StageSpec stage, IReadOnlyList<NamedTensor> parameters, StageHead head = StageHead.Language)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var byName = parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var model = new GptStage(config, stage, seed: 0, head);
        try
        {
            using var _ = no_grad();
            foreach (var (name, parameter) in model.named_parameters())
            {
                var source = byName.TryGetValue(name, out var found) ? found
                    : name == "lm_head.weight" && byName.TryGetValue("wte.weight", out var tied) ? tied
                    : throw new InvalidDataException($"The version has no parameter '{name}'.");
                using var values = TensorIO.FromBytes(source.Tensor.Data, source.Tensor.Shape);
                if (!values.shape.SequenceEqual(parameter.shape))
                {
                    throw new InvalidDataException(
                        $"Parameter '{name}' has shape [{string.Join(", ", values.shape)}]; the model expects [{string.Join(", ", parameter.shape)}].");
                }

                parameter.copy_(values);
            }

            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public static long ParameterCount(GptStage model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.parameters().Sum(p => p.numel());
    }

    /// <summary>A vocabulary from the bytes a version stores (<see cref="ModelVocabulary.Write"/>).</summary>
    public static ModelVocabulary ReadVocabulary(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        using var reader = new BinaryReader(new MemoryStream(bytes), System.Text.Encoding.UTF8);
        return ModelVocabulary.Read(reader);
    }
}
