using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Sampling;

/// <summary>One generated token: its model ID and the probability the sampling distribution gave it.</summary>
public sealed record GeneratedToken(int Id, double Probability);

/// <summary>
/// Autoregressive generation with the whole model in this process: run the context, sample the next token, append,
/// repeat. Without a KV cache each token re-runs the whole (cropped) context; the cluster's inference stages keep one.
/// </summary>
public static class TextGenerator
{
    public static IEnumerable<GeneratedToken> Generate(GptStage model, IReadOnlyList<int> prompt, SamplingOptions options, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        if (!model.Stage.IsFirst || !model.Stage.IsLast)
        {
            throw new ArgumentException("Generation in one process needs the whole model, not a pipeline stage.", nameof(model));
        }

        if (prompt.Count == 0)
        {
            throw new ArgumentException("The prompt is empty: there is nothing to continue.", nameof(prompt));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 0);
        options.Validate(model.Config.VocabularySize);
        return Iterate(model, [.. prompt], options, maxTokens);
    }

    private static IEnumerable<GeneratedToken> Iterate(GptStage model, List<int> context, SamplingOptions options, int maxTokens)
    {
        var random = new DeterministicRandom(options.Seed);
        for (var i = 0; i < maxTokens; i++)
        {
            GeneratedToken next;
            using (var scope = NewDisposeScope())
            using (no_grad())
            {
                model.eval();
                // The model has learned positions up to its block size: beyond that, the oldest tokens fall out.
                var window = context.Skip(Math.Max(0, context.Count - model.Config.BlockSize)).Select(id => (long)id).ToArray();
                var logits = model.Forward(tensor(window, [1, window.Length], dtype: ScalarType.Int64)); // (1, T, V)
                var last = logits[0, -1].to(ScalarType.Float32).data<float>().ToArray(); // (V)
                var distribution = Sampler.Distribution(last, options);
                var id = Sampler.Pick(distribution, random.NextDouble());
                next = new GeneratedToken(id, distribution[id]);
            }

            context.Add(next.Id);
            yield return next;
        }
    }
}
