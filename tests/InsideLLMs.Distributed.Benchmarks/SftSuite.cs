using System.Diagnostics;
using System.Globalization;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Maths.Training;
using TorchSharp;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// Supervised fine-tuning's effect: the default synthetic model pre-trained (2,400 steps unless told), then fine-tuned on
/// the built-in instructions (response-only cross-entropy), with instruction accuracy on held-out instructions and the
/// preference rule's score of sampled completions before and after.
/// Both phases run in the reference trainer, the one-stage, one-replica case of the stage grains' code (the cluster's
/// SFT equals it step for step: SftEquivalenceTests).
/// </summary>
/// <remarks>
/// Instruction accuracy: the share of distinct held-out instructions (no training example has the same text) whose
/// greedy response, from EOD + instruction + "." until the end-of-document token, satisfies the instruction by
/// <see cref="InstructionCheck"/>: it takes the instructed entity to the instructed place (or finds the money), keeps
/// to that entity with agreeing was/were and the right sense of "bank", and ends a sentence and the document.
/// </remarks>
internal static class SftSuite
{
    public static void Run(List<(string, string, string)> results, int threads, int pretrainSteps, int sftSteps, int instructions, double learningRate, string? cache = null)
    {
        using var policy = Policy.Train(threads, pretrainSteps, sftSteps, learningRate, (tuned, sftData) =>
        {
            var heldOut = HeldOutInstructions(sftData, instructions);
            var seen = sftData.TrainExamples.Select(e => e.Instruction).Distinct(StringComparer.Ordinal).Take(instructions).ToArray();
            return (HeldOut: Accuracy(tuned, sftData, heldOut), Seen: Accuracy(tuned, sftData, seen), Loss: tuned.Evaluate(),
                Rule: SampledRuleScore(tuned, sftData.Vocabulary, RuleScorePrompts));
        }, cache, cacheTuned: false);
        var (before, after) = (policy.Before, policy.After);
        var (tuned, sftData, sftOptions) = (policy.Tuned, policy.Instructions, policy.Tuned.Options);
        var (pretrainSeconds, sftSeconds, pretrainLoss) = (policy.PretrainSeconds, policy.SftSeconds, policy.PretrainLoss);
        var heldOut = HeldOutInstructions(sftData, instructions);
        results.Add(("sft", "pre-training: steps x rows, wall time", $"{pretrainSteps} x {TrainingPresets.Synthetic.Training.BatchSize}, {(policy.BaseFromCache ? "read from the cache" : $"{pretrainSeconds:F0} s")}"));
        results.Add(("sft", "pre-training: validation loss (16 batches)", F(pretrainLoss, 4)));
        results.Add(("sft", "SFT: steps x rows, peak learning rate, wall time", $"{sftSteps} x {sftOptions.BatchSize}, {learningRate.ToString(CultureInfo.InvariantCulture)}, {sftSeconds:F0} s"));
        results.Add(("sft", $"held-out instructions (distinct texts)", heldOut.Length.ToString(CultureInfo.InvariantCulture)));
        results.Add(("sft", "response loss on held-out instructions: before / after", $"{F(before.Loss, 4)} / {F(after.Loss, 4)}"));
        results.Add(("sft", $"preference rule's score, sampled (T = 1) on {RuleScorePrompts} held-out PPO prompts: before / after", $"{F(before.Rule, 3)} / {F(after.Rule, 3)}"));
        foreach (var (name, b, a) in new[] { ("held-out", before.HeldOut, after.HeldOut), ("trained-on", before.Seen, after.Seen) })
        {
            results.Add(("sft", $"instruction accuracy, {name}: before / after", $"{b.Satisfied:P1} / {a.Satisfied:P1}"));
            results.Add(("sft", $"  {name}: names the entity, before / after", $"{b.Entity:P1} / {a.Entity:P1}"));
            results.Add(("sft", $"  {name}: right setting, before / after", $"{b.Setting:P1} / {a.Setting:P1}"));
            results.Add(("sft", $"  {name}: consistent later sentences, before / after", $"{b.Consistent:P1} / {a.Consistent:P1}"));
            results.Add(("sft", $"  {name}: ends a sentence and the document, before / after", $"{b.Finished:P1} / {a.Finished:P1}"));
        }

        foreach (var instruction in heldOut.Take(3))
        {
            results.Add(("sft", $"example:{instruction}", $"->{Respond(tuned, sftData, instruction).Text}"));
        }
    }

    /// <summary>Held-out PPO prompts the rule's score is measured on (the ppo suite's evaluation prompts and seeds).</summary>
    private const int RuleScorePrompts = 200;

    /// <summary>
    /// The preference rule's mean score of one completion sampled at temperature 1 (at most PPO's completion length) for
    /// each of the first <paramref name="count"/> held-out PPO prompts, with the ppo suite's evaluation seeds: the SFT
    /// model's score here is the ppo suite's "rule score sampled, SFT", so it tells how much room SFT leaves PPO.
    /// </summary>
    internal static double SampledRuleScore(ReferenceTrainer trainer, ModelVocabulary vocabulary, int count)
    {
        var prompts = new PpoPrompts(PpoSuite.EvaluationSeed, heldOut: true);
        var total = 0.0;
        for (var n = 0; n < count; n++)
        {
            var instruction = prompts.At(n);
            total += PreferenceRule.Default.Score(instruction, PpoSuite.Answer(trainer.Model, vocabulary, new PpoOptions().MaxCompletionTokens, instruction, n, greedy: false).Text);
        }

        return total / count;
    }

    private static string[] HeldOutInstructions(InstructionDataset data, int count) =>
        [.. data.ValidationExamples.Select(e => e.Instruction).Distinct(StringComparer.Ordinal).Take(count)];

    internal sealed record Tally(double Satisfied, double Entity, double Setting, double Consistent, double Finished);

    private static Tally Accuracy(ReferenceTrainer trainer, InstructionDataset data, IReadOnlyList<string> instructions)
    {
        var verdicts = instructions.Select(i =>
        {
            var (text, ended) = Respond(trainer, data, i);
            return InstructionCheck.Default.Check(i, text, ended);
        }).ToArray();
        double Share(Func<InstructionCheck.Verdict, bool> part) => verdicts.Count(part) / (double)verdicts.Length;
        return new Tally(Share(v => v.Satisfied), Share(v => v.NamesTheEntity), Share(v => v.RightSetting), Share(v => v.Consistent), Share(v => v.Finished));
    }

    /// <summary>
    /// From EOD, the instruction and "." until the end-of-document token or the end of the context less
    /// <paramref name="reserve"/> tokens; greedy unless <paramref name="sampling"/> says otherwise.
    /// </summary>
    internal static (string Text, bool Ended) Respond(
        ReferenceTrainer trainer, InstructionDataset data, string instruction, SamplingOptions? sampling = null, int reserve = 0)
    {
        var prompt = data.Prompt(instruction);
        var response = new List<int>();
        foreach (var token in TextGenerator.Generate(trainer.Model, prompt, sampling ?? new SamplingOptions(Greedy: true), trainer.Config.BlockSize - prompt.Length - reserve))
        {
            if (token.Id == ModelVocabulary.EndOfDocument)
            {
                return (data.Vocabulary.DecodeText(response), true);
            }

            response.Add(token.Id);
        }

        return (data.Vocabulary.DecodeText(response), false);
    }

    private static string F(double value, int decimals) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);
}

/// <summary>
/// The default synthetic model pre-trained and fine-tuned on the built-in instructions, both in the reference
/// trainer; <typeparamref name="T"/> is what the caller measures on the fine-tuning trainer before and after SFT.
/// </summary>
internal sealed class Policy<T> : IDisposable
{
    public required ReferenceTrainer Tuned { get; init; }

    public required InstructionDataset Instructions { get; init; }

    public required T Before { get; init; }

    public required T After { get; init; }

    public double PretrainSeconds { get; init; }

    public double SftSeconds { get; init; }

    public double PretrainLoss { get; init; }

    /// <summary>The pre-trained base's <see cref="Policy.IdentityProbe"/>; null when the weights were read from the cache.</summary>
    public double? BaseIdentity { get; init; }

    /// <summary>Whether the pre-trained base was read from the cache instead of trained (<see cref="PretrainSeconds"/> is then the read's).</summary>
    public bool BaseFromCache { get; init; }

    /// <summary>Whether the fine-tuned weights were read from the cache instead of trained.</summary>
    public bool FromCache { get; init; }

    public void Dispose() => Tuned.Dispose();
}

internal static class Policy
{
    /// <param name="cache">
    /// A folder where the pre-trained base and the fine-tuned weights are kept: read from it when there, written to it
    /// after training.
    /// </param>
    /// <param name="cacheTuned">Whether the fine-tuned weights are read from the cache (false: only the base is, and SFT runs).</param>
    /// <param name="shape">Another width and depth than the preset's (heads of 32 dimensions), or null.</param>
    public static Policy<T> Train<T>(
        int threads, int pretrainSteps, int sftSteps, double learningRate, Func<ReferenceTrainer, InstructionDataset, T> measure, string? cache = null,
        (int Width, int Layers)? shape = null, bool cacheTuned = true)
    {
        torch.set_num_threads(threads);
        var preset = TrainingPresets.Synthetic;
        var (data, model) = preset.Load();
        if (shape is { } s)
        {
            model = model with { EmbeddingSize = s.Width, HeadCount = s.Width / 32, LayerCount = s.Layers };
        }

        var shaped = shape is { } named ? $"-w{named.Width}x{named.Layers}" : "";
        var cached = cache is null ? null : Path.Combine(cache, $"policy-g{SyntheticGrammar.Version}-{pretrainSteps}-{sftSteps}-{learningRate.ToString(CultureInfo.InvariantCulture)}{shaped}.bin");
        if (cacheTuned && cached is not null && File.Exists(cached))
        {
            var instructions = InstructionDataset.Synthetic(new SyntheticCorpus(preset.Training.Seed), data.Vocabulary, model.BlockSize);
            var restored = new ReferenceTrainer(model, data, preset.Training with { Threads = threads, Steps = sftSteps, Objective = ObjectiveKind.Sft }, instructions);
            restored.Restore(File.ReadAllBytes(cached), sftSteps);
            var measured = measure(restored, instructions);
            return new Policy<T> { Tuned = restored, Instructions = instructions, Before = measured, After = measured, FromCache = true };
        }

        // The pre-trained base is kept too (by grammar version, steps and shape), so policies with other SFT lengths reuse it.
        var started = Stopwatch.GetTimestamp();
        using var pretrained = new ReferenceTrainer(model, data, preset.Training with { Threads = threads, Steps = pretrainSteps, EvalInterval = 0 });
        var baseCached = cache is null ? null : Path.Combine(cache, $"base-g{SyntheticGrammar.Version}-{pretrainSteps}{shaped}.bin");
        var baseFromCache = baseCached is not null && File.Exists(baseCached);
        if (baseFromCache)
        {
            pretrained.Restore(File.ReadAllBytes(baseCached!), pretrainSteps);
            Console.WriteLine($"policy: pre-trained base read from {baseCached}");
        }
        else
        {
            pretrained.Run();
            if (baseCached is not null)
            {
                Directory.CreateDirectory(cache!);
                File.WriteAllBytes(baseCached, pretrained.SaveState());
            }
        }

        var pretrainSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var pretrainLoss = pretrained.Evaluate(maxBatches: 16);
        var baseIdentity = IdentityProbe(pretrained, data.Vocabulary);
        var weights = pretrained.Model.named_parameters().ToDictionary(p => p.name, p => (TensorIO.ToBytes(p.parameter), p.parameter.shape));

        var sftData = InstructionDataset.Synthetic(new SyntheticCorpus(preset.Training.Seed), data.Vocabulary, model.BlockSize);
        var sftOptions = preset.Training with
        {
            Threads = threads, Steps = sftSteps, Objective = ObjectiveKind.Sft, LearningRate = learningRate, MinLearningRate = learningRate / 10,
            WarmupSteps = Math.Min(20, sftSteps / 10), EvalInterval = 0, EvalBatches = 8,
        };
        var tuned = new ReferenceTrainer(model, data, sftOptions, sftData);
        tuned.LoadInitialParameters(weights);
        var before = measure(tuned, sftData);
        started = Stopwatch.GetTimestamp();
        tuned.Run();
        var sftSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var after = measure(tuned, sftData);
        if (cached is not null)
        {
            Directory.CreateDirectory(cache!);
            File.WriteAllBytes(cached, tuned.SaveState());
        }

        return new Policy<T>
        {
            Tuned = tuned, Instructions = sftData, Before = before, After = after, PretrainSeconds = pretrainSeconds, SftSeconds = sftSeconds, PretrainLoss = pretrainLoss,
            BaseIdentity = baseIdentity, BaseFromCache = baseFromCache,
        };
    }

    /// <summary>
    /// Whether a model has the identity test the pair stories teach: of 300 held-out "{A} and {B} went to the {place}.
    /// then {X} left the {place} and" (two names, X one of them), the share whose next-token logits put the other name
    /// above X. A model that cannot tell which of the two was named again scores about 0.5.
    /// </summary>
    public static double IdentityProbe(ReferenceTrainer model, ModelVocabulary vocabulary)
    {
        const int Count = 300;
        var lexicon = SyntheticLexicon.Default;
        string[] names = [.. lexicon.FemaleNames, .. lexicon.MaleNames];
        var random = new DeterministicRandom(0x1D_E17);
        var right = 0;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        model.Model.eval();
        try
        {
            for (var i = 0; i < Count; i++)
            {
                var a = names[random.NextInt(names.Length)];
                var b = names[(Array.IndexOf(names, a) + 1 + random.NextInt(names.Length - 1)) % names.Length];
                var place = lexicon.Places[random.NextInt(lexicon.Places.Count)];
                var (named, other) = random.NextInt(2) == 0 ? (a, b) : (b, a);
                long[] ids = [ModelVocabulary.EndOfDocument, .. vocabulary.EncodeText($" {a} and {b} went to the {place}. then {named} left the {place} and").Select(t => (long)t)];
                using var logits = model.Model.Forward(torch.tensor(ids, dtype: torch.int64).unsqueeze(0))[0, -1];
                right += logits[vocabulary.EncodeText(" " + other)[0]].item<float>() > logits[vocabulary.EncodeText(" " + named)[0]].item<float>() ? 1 : 0;
            }
        }
        finally
        {
            model.Model.train();
        }

        return (double)right / Count;
    }
}
