using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Maths.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// What each of PPO's models computes for an iteration, as plain functions of a <see cref="GptStage"/>: the policy samples
/// completions (with a KV cache) and gives their log-probabilities, the reference gives its log-probabilities of the same
/// tokens, the value model its value at every position. Log-probabilities are at temperature 1, the sampling temperature.
/// </summary>
public static class PpoModels
{
    private const long RolloutStream = 0x726F6C6C; // "roll"

    /// <summary>
    /// Iteration <paramref name="iteration"/>'s completions: one per prompt n = iteration × rollouts + row of
    /// <paramref name="prompts"/>, sampled at temperature 1 with the seed (seed, iteration, row), at most
    /// <see cref="PpoOptions.MaxCompletionTokens"/> tokens and one fewer than the context leaves (the reward model's row
    /// closes with an end token); and their log-probabilities under <paramref name="policy"/>, by one forward of the batch.
    /// </summary>
    public static PpoRollouts Sample(GptStage policy, ModelVocabulary vocabulary, PpoOptions options, Func<long, string> prompts, int iteration)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var plan = Plan(vocabulary, options, prompts, iteration, policy.Config.BlockSize);
        var completions = plan.Select(p => Complete(policy, p.Prompt, p.Seed, p.MaxTokens)).ToArray();
        var rows = Rows(plan, completions, policy.Config.BlockSize);
        return Rollouts(vocabulary, plan, completions, rows, LogProbabilities(policy, rows));
    }

    /// <summary>
    /// What iteration <paramref name="iteration"/> samples, row by row: the instruction, its prompt tokens, the row's seed
    /// and how many tokens its completion may take. Wherever the tokens are drawn (here, or through the inference
    /// pipeline's grains), <see cref="CompleteAsync"/> with these gives the same completions.
    /// </summary>
    /// <exception cref="ArgumentException">A prompt leaves no room for a completion in the context.</exception>
    public static IReadOnlyList<RolloutPlan> Plan(ModelVocabulary vocabulary, PpoOptions options, Func<long, string> prompts, int iteration, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(prompts);
        return [.. Enumerable.Range(0, options.Rollouts).Select(row =>
        {
            var instruction = prompts(((long)iteration * options.Rollouts) + row);
            var prompt = InstructionDataset.Prompt(instruction, vocabulary);
            var room = blockSize - prompt.Length - 1;
            if (room < 1)
            {
                throw new ArgumentException($"The prompt '{instruction}' takes {prompt.Length} tokens: no room for a completion in a context of {blockSize}.");
            }

            return new RolloutPlan(row, instruction, prompt, DeterministicRandom.Mix(options.Seed, RolloutStream, iteration, row), Math.Min(options.MaxCompletionTokens, room));
        })];
    }

    /// <summary>The rows of the sampled completions (<see cref="PpoRows.Build"/>).</summary>
    public static PpoRows Rows(IReadOnlyList<RolloutPlan> plan, IReadOnlyList<(List<int> Tokens, bool Ended)> completions, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(completions);
        return PpoRows.Build([.. plan.Select(p => p.Prompt)], [.. completions.Select(c => c.Tokens.ToArray())], blockSize);
    }

    /// <summary>The rollouts of the sampled completions: their texts (the end token left out), whether each ended, the rows and the policy's log-probabilities of them.</summary>
    public static PpoRollouts Rollouts(
        ModelVocabulary vocabulary, IReadOnlyList<RolloutPlan> plan, IReadOnlyList<(List<int> Tokens, bool Ended)> completions, PpoRows rows, float[] logProbabilities)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(completions);
        var texts = completions.Select(c => vocabulary.DecodeText(c.Tokens.Where(t => t != ModelVocabulary.EndOfDocument))).ToArray();
        return new PpoRollouts([.. plan.Select(p => p.Instruction)], texts, [.. completions.Select(c => c.Ended)], rows, logProbabilities);
    }

    /// <summary>
    /// A completion of <paramref name="prompt"/> from <paramref name="model"/> with a KV cache, sampled at temperature 1
    /// (or greedy): its tokens (the end token last when it came) and whether it ended within <paramref name="maxTokens"/>.
    /// </summary>
    public static (List<int> Tokens, bool Ended) Complete(GptStage model, IReadOnlyList<int> prompt, long seed, int maxTokens, bool greedy = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompt);
        var training = model.training;
        using var cache = new KvCache();
        using var noGrad = no_grad();
        model.eval();
        try
        {
            // Every forward here runs inside the call: the task has completed when it returns.
            return CompleteAsync(
                (input, _) =>
                {
                    using var scope = NewDisposeScope();
                    var logits = model.Forward(tensor(input, [1, input.Length], dtype: ScalarType.Int64), cache: cache); // (1, T, V)
                    return Task.FromResult(logits[0, -1].to(ScalarType.Float32).data<float>().ToArray());
                },
                prompt, seed, maxTokens, model.Config.BlockSize, greedy).GetAwaiter().GetResult();
        }
        finally
        {
            model.train(training);
        }
    }

    /// <summary>
    /// A completion drawn token by token from a model with a KV cache wherever it runs: <paramref name="forward"/> takes
    /// the new tokens and the position of the first (the prompt at 0, then each drawn token) and returns the logits of the
    /// last position. At temperature 1 with the seed's generator (or greedy); the end token, when drawn, comes last.
    /// </summary>
    public static async Task<(List<int> Tokens, bool Ended)> CompleteAsync(
        Func<long[], int, Task<float[]>> forward, IReadOnlyList<int> prompt, long seed, int maxTokens, int blockSize, bool greedy = false)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(prompt);
        var random = new DeterministicRandom(seed);
        var tokens = new List<int>();
        var input = prompt.Select(t => (long)t).ToArray();
        var cached = 0;
        for (var i = 0; i < maxTokens && cached + input.Length <= blockSize; i++)
        {
            var last = await forward(input, cached);
            cached += input.Length;
            var id = greedy
                ? Sampler.Pick(Sampler.Distribution(last, new SamplingOptions(Greedy: true)), 0)
                : Sampler.Pick(Sampler.Softmax(last), random.NextDouble());
            tokens.Add(id);
            if (id == ModelVocabulary.EndOfDocument)
            {
                return (tokens, true);
            }

            input = [id];
        }

        return (tokens, false);
    }

    /// <summary>log π(target) at temperature 1 at every position of <paramref name="rows"/> (0 where nothing is scored), one forward without a graph.</summary>
    public static float[] LogProbabilities(GptStage model, PpoRows rows)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(rows);
        return Evaluated(model, rows, output =>
        {
            using var zero = 0.ToScalar();
            var targets = tensor(rows.Targets, rows.Shape, dtype: ScalarType.Int64);
            var taken = nn.functional.log_softmax(output, 2).gather(2, targets.clamp_min(zero).unsqueeze(2)).squeeze(2);
            return taken.where(targets.ge(zero), zeros_like(taken));
        });
    }

    /// <summary>A score model's output at every position of <paramref name="rows"/>: the value model's values.</summary>
    public static float[] Values(GptStage model, PpoRows rows)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(rows);
        if (model.OutputHead != StageHead.Score)
        {
            throw new ArgumentException("Values come from a model with a score head.");
        }

        return Evaluated(model, rows, output => output);
    }

    private static float[] Evaluated(GptStage model, PpoRows rows, Func<Tensor, Tensor> read)
    {
        if (rows.BlockSize != model.Config.BlockSize)
        {
            throw new ArgumentException($"The rows are {rows.BlockSize} positions long but the model's context is {model.Config.BlockSize}.");
        }

        var training = model.training;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        try
        {
            var output = model.Forward(tensor(rows.Inputs, rows.Shape, dtype: ScalarType.Int64));
            return [.. read(output).reshape(-1).to(ScalarType.Float32).data<float>()];
        }
        finally
        {
            model.train(training);
        }
    }
}

/// <summary>One rollout to sample: its row, instruction, prompt tokens, the seed of its draws and the most tokens it may take.</summary>
public sealed record RolloutPlan(int Row, string Instruction, int[] Prompt, long Seed, int MaxTokens);

/// <summary>PPO's prompts: the built-in corpus's instructions from a seed's stream, without the held-out ones (kept for judging).</summary>
public sealed class PpoPrompts(long seed, bool heldOut = false)
{
    /// <summary>The stream the cluster's PPO runs and the benchmark train on (neither SFT's nor the ranking board's).</summary>
    public const long DefaultSeed = 0x5EED_0009;

    private readonly SyntheticCorpus _corpus = new(seed);
    private readonly List<string> _kept = [];
    private readonly Lock _gate = new();
    private long _next;

    /// <summary>The n-th instruction of the stream that is (or, by default, is not) held out.</summary>
    public string At(long n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        lock (_gate)
        {
            while (_kept.Count <= n)
            {
                var instruction = _corpus.Instruction(_next++).Instruction;
                if (InstructionDataset.IsHeldOut(instruction) == heldOut)
                {
                    _kept.Add(instruction);
                }
            }

            return _kept[(int)n];
        }
    }
}
