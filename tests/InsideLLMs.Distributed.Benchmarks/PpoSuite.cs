using System.Globalization;
using System.Text;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// PPO from the reward model: the sft suite's policy, the reward suite's reward model (trained on the policy's own samples
/// ranked by simulated annotators), then PPO iterations (<see cref="PpoTrainer"/>) on prompts of their own stream. Judged
/// by the preference rule, which neither model sees: on held-out prompts, the policy's completions against the SFT
/// model's with the same sampling seed (win rate, a tie counting half), greedy answers too, and the mean KL to the
/// reference per completion during the last iterations.
/// </summary>
internal static class PpoSuite
{
    internal const long EvaluationSeed = 0x5EED_000A;

    public static void Run(List<(string, string, string)> results, int threads, int pretrainSteps, int sftSteps, int prompts, int rewardSteps, double noise, PpoOptions options, int evaluationPrompts, int evaluateEvery, string? cache, string? curves, double rankTemperature = 1.0,
        double rewardLearningRate = RewardSuite.DefaultRewardLearningRate)
    {
        using var policy = Policy.Train(threads, pretrainSteps, sftSteps, 1e-3, (_, _) => 0, cache);
        var (tuned, vocabulary) = (policy.Tuned, policy.Instructions.Vocabulary);
        results.Add(("ppo", "policy: pre-training + SFT steps", $"{pretrainSteps} + {sftSteps}{(policy.FromCache ? " (read from the cache)" : "")}"));
        var tasks = RewardSuite.Tasks(tuned, policy.Instructions, prompts, pretrainSteps, sftSteps, cache, [rankTemperature]);
        var (reward, rankings) = RewardSuite.RewardModel(tuned, vocabulary, tasks, noise, threads, rewardSteps, rewardLearningRate);
        using var _ = reward;
        var rewardState = RewardSuite.RewardStatePath(cache, pretrainSteps, sftSteps, prompts, rewardSteps, noise, [rankTemperature], rewardLearningRate);
        if (rewardState is not null && File.Exists(rewardState))
        {
            reward.Restore(File.ReadAllBytes(rewardState), rewardSteps);
            Console.WriteLine($"ppo: reward model read from {rewardState}");
        }
        else
        {
            reward.Run();
            if (rewardState is not null)
            {
                File.WriteAllBytes(rewardState, reward.SaveState());
            }
        }

        var truth = tasks.ToDictionary(t => t.Id, t => t.Completions.Select(c => PreferenceRule.Default.Score(t.Prompt, c)).ToArray());
        var accuracy = RewardScores.Agreement(rankings.ValidationRankings.Select(r =>
            ((IReadOnlyList<double>)RewardScores.Score(reward.Model, vocabulary, r.Prompt, r.Completions), (IReadOnlyList<double>)truth[r.Id])));
        var normalization = RewardScores.Normalization([.. rankings.TrainRankings.SelectMany(r => RewardScores.Score(reward.Model, vocabulary, r.Prompt, r.Completions))]);
        results.Add(("ppo", $"reward model: {rewardSteps} steps (lr {rewardLearningRate.ToString(CultureInfo.InvariantCulture)}) on {prompts} rankings of samples at T = {rankTemperature.ToString(CultureInfo.InvariantCulture)} ({noise:P0} noise), held-out accuracy", $"{accuracy.Accuracy:F3} ({accuracy.Pairs} pairs)"));

        var training = new PpoPrompts(PpoPrompts.DefaultSeed);
        var evaluation = new PpoPrompts(EvaluationSeed, heldOut: true);
        using var ppo = new PpoTrainer(tuned.Config, vocabulary, options with { Threads = threads }, Weights(tuned.Model), Weights(reward.Model), normalization, training.At);
        var before = Evaluate(ppo, evaluation, evaluationPrompts);
        Console.WriteLine($"ppo: {options.Iterations} iterations of {options.Rollouts} rollouts, {options.Epochs} epochs x {options.MiniBatches} minibatches");
        var history = ppo.Run(new InlineProgress<PpoIteration>(i =>
        {
            if (i.Iteration % 10 == 0 || i.Iteration == 1)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {i.Iteration,4}: score {i.MeanScore,6:F3} rule {i.MeanRuleScore,6:F3} kl {i.MeanKl,6:F3} beta {i.KlCoefficient:F4} approx-kl {i.ApproximateKl:F4} clip {i.ClipFraction:F3} entropy {i.Entropy:F3} value-loss {i.ValueLoss:F4} ev {i.ExplainedVariance:F3} ended {i.EndedShare:P0} tokens {i.MeanTokens:F1} {i.Time.Wall.TotalSeconds:F2} s"));
                foreach (var sample in i.Samples.Take(1))
                {
                    Console.WriteLine($"        {sample.Prompt} -> {sample.Completion}");
                }
            }

            if (evaluateEvery > 0 && i.Iteration % evaluateEvery == 0 && i.Iteration < options.Iterations)
            {
                var now = Evaluate(ppo, evaluation, evaluationPrompts);
                var figure = $"held-out at iteration {i.Iteration}: win rate sampled / greedy, rule score sampled";
                results.Add(("ppo", figure, $"{now.WinSampled:F3} / {now.WinGreedy:F3}, {now.Sampled:F3}"));
                Console.WriteLine($"  {figure}: {now.WinSampled:F3} / {now.WinGreedy:F3}, {now.Sampled:F3}");
            }
        }));
        var after = Evaluate(ppo, evaluation, evaluationPrompts);
        var last = history.TakeLast(Math.Min(20, history.Count)).ToArray();
        results.Add(("ppo", "iterations x rollouts, epochs x minibatches", $"{options.Iterations} x {options.Rollouts}, {options.Epochs} x {options.MiniBatches}"));
        results.Add(("ppo", "policy / value lr, beta (start, end), KL target", $"{options.PolicyLearningRate.ToString(CultureInfo.InvariantCulture)} / {options.ValueLearningRate.ToString(CultureInfo.InvariantCulture)}, {options.KlCoefficient.ToString(CultureInfo.InvariantCulture)} -> {ppo.KlCoefficient:F4}, {(options.KlTarget is { } t ? t.ToString(CultureInfo.InvariantCulture) : "fixed")}"));
        results.Add(("ppo", "training: reward-model score, first 20 / last 20 iterations", $"{history.Take(20).Average(i => i.MeanScore):F3} / {last.Average(i => i.MeanScore):F3}"));
        results.Add(("ppo", "training: rule score, first 20 / last 20 iterations", $"{history.Take(20).Average(i => i.MeanRuleScore):F3} / {last.Average(i => i.MeanRuleScore):F3}"));
        results.Add(("ppo", "training: mean KL to the reference per completion, last 20", $"{last.Average(i => i.MeanKl):F3} nats (max {history.Max(i => i.MeanKl):F3})"));
        results.Add(("ppo", $"held-out ({evaluationPrompts} prompts): rule score sampled, SFT / policy", $"{before.Sampled:F3} / {after.Sampled:F3}"));
        results.Add(("ppo", $"held-out: rule score greedy, SFT / policy", $"{before.Greedy:F3} / {after.Greedy:F3}"));
        results.Add(("ppo", "held-out: win rate against SFT under the rule, sampled (ties half)", $"{after.WinSampled:F3} (ties {after.TieSampled:P0})"));
        results.Add(("ppo", "held-out: win rate against SFT under the rule, greedy (ties half)", $"{after.WinGreedy:F3} (ties {after.TieGreedy:P0})"));
        results.Add(("ppo", "held-out: policy samples ending with the end token, SFT / policy", $"{before.Ended:P0} / {after.Ended:P0}"));
        var times = history.Select(i => i.Time).ToArray();
        results.Add(("ppo", "time per iteration (mean)", $"{times.Average(t => t.Wall.TotalSeconds):F2} s"));
        results.Add(("ppo", "  split: generation / reward / reference / value / update", string.Join(" / ", new Func<PpoTimes, TimeSpan>[] { t => t.Generation, t => t.Reward, t => t.Reference, t => t.Value, t => t.Update }
            .Select(part => $"{times.Average(t => part(t).TotalSeconds):F3} s"))));
        foreach (var (prompt, sft, tunedAnswer) in after.Examples.Take(4))
        {
            results.Add(("ppo", $"example:{prompt}", $"SFT -> {sft} | PPO -> {tunedAnswer}"));
        }

        if (curves is not null)
        {
            Directory.CreateDirectory(curves);
            File.WriteAllText(Path.Combine(curves, "ppo-reward.svg"), Chart("PPO: mean score per iteration", "iteration",
                [("reward-model score (normalised)", "#2563eb", [.. history.Select(i => i.MeanScore)]), ("preference rule score", "#16a34a", [.. history.Select(i => i.MeanRuleScore)])]));
            File.WriteAllText(Path.Combine(curves, "ppo-kl.svg"), Chart("PPO: KL to the reference per completion (nats)", "iteration",
                [("mean KL", "#dc2626", [.. history.Select(i => i.MeanKl)])]));
            results.Add(("ppo", "curves", $"{Path.Combine(curves, "ppo-reward.svg")}, {Path.Combine(curves, "ppo-kl.svg")}"));
        }
    }

    private sealed record Judgement(double Sampled, double Greedy, double WinSampled, double TieSampled, double WinGreedy, double TieGreedy, double Ended, (string, string, string)[] Examples);

    /// <summary>The policy against the reference (the SFT model) on held-out prompts: one sample each with the same seed, and the greedy answer.</summary>
    private static Judgement Evaluate(PpoTrainer ppo, PpoPrompts prompts, int count)
    {
        double sampled = 0, greedy = 0, winSampled = 0, tieSampled = 0, winGreedy = 0, tieGreedy = 0, ended = 0;
        var examples = new List<(string, string, string)>();
        for (var n = 0; n < count; n++)
        {
            var instruction = prompts.At(n);
            string Text(GptStage model, bool isGreedy) => Answer(model, ppo.Vocabulary, ppo.Options.MaxCompletionTokens, instruction, n, isGreedy).Text;
            var (policySample, policyEnded) = Answer(ppo.Policy, ppo.Vocabulary, ppo.Options.MaxCompletionTokens, instruction, n, greedy: false);
            var referenceSample = Text(ppo.Reference, false);
            var (policyGreedy, referenceGreedy) = (Text(ppo.Policy, true), Text(ppo.Reference, true));
            var (ps, rs) = (PreferenceRule.Default.Score(instruction, policySample), PreferenceRule.Default.Score(instruction, referenceSample));
            var (pg, rg) = (PreferenceRule.Default.Score(instruction, policyGreedy), PreferenceRule.Default.Score(instruction, referenceGreedy));
            sampled += ps;
            greedy += pg;
            winSampled += ps > rs ? 1 : ps == rs ? 0.5 : 0;
            tieSampled += ps == rs ? 1 : 0;
            winGreedy += pg > rg ? 1 : pg == rg ? 0.5 : 0;
            tieGreedy += pg == rg ? 1 : 0;
            ended += policyEnded ? 1 : 0;
            if (examples.Count < 4)
            {
                examples.Add((instruction, referenceGreedy, policyGreedy));
            }
        }

        return new Judgement(sampled / count, greedy / count, winSampled / count, tieSampled / count, winGreedy / count, tieGreedy / count, ended / count, [.. examples]);
    }

    /// <summary>
    /// A model's answer to the <paramref name="n"/>-th held-out evaluation instruction: sampled at temperature 1 with that
    /// instruction's evaluation seed (the same for every model), or greedy; at most <paramref name="maxTokens"/> tokens,
    /// fewer where the context ends first. The text leaves out the end token; Ended says whether it came.
    /// </summary>
    internal static (string Text, bool Ended) Answer(GptStage model, ModelVocabulary vocabulary, int maxTokens, string instruction, int n, bool greedy)
    {
        var prompt = InstructionDataset.Prompt(instruction, vocabulary);
        var room = Math.Min(maxTokens, model.Config.BlockSize - prompt.Length - 1);
        var (tokens, ended) = PpoModels.Complete(model, prompt, DeterministicRandom.Mix(EvaluationSeed, n), room, greedy);
        return (vocabulary.DecodeText(tokens.Where(t => t != ModelVocabulary.EndOfDocument)), ended);
    }

    private static Dictionary<string, (byte[] Data, long[] Shape)> Weights(GptStage model) =>
        model.named_parameters().ToDictionary(p => p.name, p => (TensorIO.ToBytes(p.parameter), p.parameter.shape));

    /// <summary>A line chart as SVG: one polyline per series over the iterations, with the value range on the axis.</summary>
    private static string Chart(string title, string xLabel, (string Name, string Colour, double[] Values)[] series)
    {
        const double width = 640, height = 320, left = 56, right = 16, bottom = 40;
        var top = 30.0 + (14 * series.Length); // the legend sits between the title and the plot
        var all = series.SelectMany(s => s.Values).Where(double.IsFinite).ToArray();
        var (min, max) = (all.Min(), all.Max());
        if (max - min < 1e-9)
        {
            (min, max) = (min - 1, max + 1);
        }

        var count = series.Max(s => s.Values.Length);
        double X(int i) => left + ((width - left - right) * i / Math.Max(1, count - 1));
        double Y(double v) => top + ((height - top - bottom) * (max - v) / (max - min));
        var svg = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        svg.Append(c, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.Append(c, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/><text x=\"{left}\" y=\"20\" font-size=\"14\">{title}</text>");
        svg.Append(c, $"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{width - right}\" y2=\"{height - bottom}\" stroke=\"#888\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{height - bottom}\" stroke=\"#888\"/>");
        foreach (var v in new[] { min, (min + max) / 2, max })
        {
            svg.Append(c, $"<text x=\"{left - 6}\" y=\"{Y(v) + 4:F1}\" text-anchor=\"end\">{v:F2}</text>");
        }

        if (min < 0 && max > 0)
        {
            svg.Append(c, $"<line x1=\"{left}\" y1=\"{Y(0):F1}\" x2=\"{width - right}\" y2=\"{Y(0):F1}\" stroke=\"#ccc\" stroke-dasharray=\"4 3\"/>");
        }

        foreach (var i in new[] { 0, (count - 1) / 2, count - 1 })
        {
            svg.Append(c, $"<text x=\"{X(i):F1}\" y=\"{height - bottom + 14}\" text-anchor=\"middle\">{i + 1}</text>");
        }

        svg.Append(c, $"<text x=\"{(left + width - right) / 2}\" y=\"{height - 8}\" text-anchor=\"middle\">{xLabel}</text>");
        for (var s = 0; s < series.Length; s++)
        {
            var points = string.Join(" ", series[s].Values.Select((v, i) => string.Create(c, $"{X(i):F1},{Y(v):F1}")));
            svg.Append(c, $"<polyline fill=\"none\" stroke=\"{series[s].Colour}\" stroke-width=\"1.5\" points=\"{points}\"/>");
            svg.Append(c, $"<text x=\"{width - right}\" y=\"{20 + (14 * s)}\" text-anchor=\"end\" fill=\"{series[s].Colour}\">{series[s].Name}</text>");
        }

        return svg.Append("</svg>").ToString();
    }
}
