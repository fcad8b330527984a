using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary><c>rlhf ppo start|status|stop</c>: a PPO run on the cluster, its metrics per iteration and sample completions.</summary>
internal static class PpoCommand
{
    public static Command Create()
    {
        var command = new Command("ppo", "PPO on the cluster: 'start' a run from an SFT run and a reward run, follow its 'status' (--watch), 'stop' it.");
        command.Subcommands.Add(Start());
        command.Subcommands.Add(Status());
        command.Subcommands.Add(Stop());
        return command;
    }

    private static Option<string> RunOption() => new("--run") { Description = "The PPO run's id.", DefaultValueFactory = _ => "ppo", HelpName = "id" };

    private static Command Start()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var run = RunOption();
        var policy = new Option<string>("--policy-run") { Description = "The run the policy starts from (objective sft or pretrain); the frozen reference keeps its weights.", DefaultValueFactory = _ => "sft", HelpName = "id" };
        var reward = new Option<string>("--reward-run") { Description = "The reward run (objective reward) that scores completions; the value model starts from it.", DefaultValueFactory = _ => "reward", HelpName = "id" };
        var iterations = new Option<int>("--iterations") { Description = "PPO iterations.", DefaultValueFactory = _ => 100 };
        var rollouts = new Option<int>("--rollouts") { Description = "Completions sampled per iteration.", DefaultValueFactory = _ => 16 };
        var epochs = new Option<int>("--epochs") { Description = "Passes over each iteration's completions.", DefaultValueFactory = _ => 4 };
        var minibatches = new Option<int>("--minibatches") { Description = "Optimizer steps per pass.", DefaultValueFactory = _ => 2 };
        var policyLr = new Option<double>("--policy-lr") { Description = "The policy's learning rate.", DefaultValueFactory = _ => 2e-5 };
        var valueLr = new Option<double>("--value-lr") { Description = "The value model's learning rate.", DefaultValueFactory = _ => 1e-4 };
        var kl = new Option<double>("--kl") { Description = "β, the KL penalty's coefficient.", DefaultValueFactory = _ => 0.1 };
        var klTarget = new Option<double?>("--kl-target") { Description = "Adapt β toward this KL per completion (nats); fixed β without it." };
        var klHorizon = new Option<double>("--kl-horizon") { Description = "The adaptive β's horizon, in completions.", DefaultValueFactory = _ => 10_000 };
        var checkpoint = new Option<int>("--checkpoint-interval") { Description = "Save the policy and value model every N iterations.", DefaultValueFactory = _ => 5 };
        var seed = new Option<long>("--seed") { Description = "Seed of the sampling and the minibatch shuffles.", DefaultValueFactory = _ => 8 };
        var stages = new Option<int>("--stages") { Description = "Pipeline stages the policy's and the value model's updates run in.", DefaultValueFactory = _ => 1 };
        var replicas = new Option<int>("--replicas") { Description = "Data-parallel replicas of those stages (a minibatch's rows are split over them).", DefaultValueFactory = _ => 1 };
        var microBatches = new Option<int>("--micro-batches") { Description = "Micro-batches per replica per minibatch step.", DefaultValueFactory = _ => 1 };
        var command = new Command("start", "Starts a PPO run: the policy from --policy-run, the reward model and the value model from --reward-run.")
        {
            gateway, run, policy, reward, iterations, rollouts, epochs, minibatches, policyLr, valueLr, kl, klTarget, klHorizon, checkpoint, seed, stages, replicas, microBatches,
        };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            var spec = new PpoRunSpec(
                cli.GetValue(policy)!, cli.GetValue(reward)!, cli.GetValue(iterations), cli.GetValue(rollouts), cli.GetValue(epochs), cli.GetValue(minibatches),
                cli.GetValue(policyLr), cli.GetValue(valueLr), cli.GetValue(kl), cli.GetValue(klTarget), cli.GetValue(klHorizon), Seed: cli.GetValue(seed),
                CheckpointInterval: cli.GetValue(checkpoint), Stages: cli.GetValue(stages), Replicas: cli.GetValue(replicas), MicroBatches: cli.GetValue(microBatches));
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            try
            {
                var status = await connection.Client.GetGrain<IPpoRunGrain>(cli.GetValue(run)!).StartAsync(spec);
                Show(cli, status);
                return ExitCodes.Success;
            }
            catch (ArgumentException e)
            {
                throw new CliUsageException(e.Message, e);
            }
            catch (InvalidOperationException e)
            {
                throw new CliFailureException(e.Message, e);
            }
        });
        return command;
    }

    private static Command Status()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var run = RunOption();
        var watch = new Option<bool>("--watch") { Description = "Print each new iteration until the run ends." };
        var command = new Command("status", "A PPO run: phase, iteration, β, where its models live, recent iterations' metrics and sample completions.") { gateway, run, watch };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            var grain = connection.Client.GetGrain<IPpoRunGrain>(cli.GetValue(run)!);
            var status = await grain.GetStatusAsync();
            if (status.Phase == RunPhase.NotStarted)
            {
                throw new CliUsageException($"PPO run '{status.RunId}' has never started; start it with 'rlhf ppo start --run {status.RunId}'.");
            }

            if (!cli.GetValue(watch))
            {
                Show(cli, status);
                return status.Phase == RunPhase.Failed ? ExitCodes.Failure : ExitCodes.Success;
            }

            var shown = 0;
            while (true)
            {
                foreach (var i in status.History.Where(h => h.Iteration > shown))
                {
                    cli.Console.WriteLine(Line(i, status.Spec?.Iterations ?? 0));
                    shown = i.Iteration;
                }

                if (status.Phase is not (RunPhase.Starting or RunPhase.Running or RunPhase.Recovering))
                {
                    cli.Console.WriteLine($"PPO run {status.RunId}: {status.Phase.ToString().ToLowerInvariant()} at iteration {status.Iteration}{(status.Error is { } error ? ": " + error : "")}");
                    return status.Phase == RunPhase.Failed ? ExitCodes.Failure : ExitCodes.Success;
                }

                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                status = await grain.GetStatusAsync();
            }
        });
        return command;
    }

    private static Command Stop()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var run = RunOption();
        var command = new Command("stop", "Stops a PPO run after the iteration in flight.") { gateway, run };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            Show(cli, await connection.Client.GetGrain<IPpoRunGrain>(cli.GetValue(run)!).StopAsync());
            return ExitCodes.Success;
        });
        return command;
    }

    private static string Line(PpoIterationView i, int total) => string.Create(CultureInfo.InvariantCulture,
        $"iteration {i.Iteration}/{total}: score {i.MeanScore:+0.000;-0.000} rule {i.MeanRuleScore:0.00} KL {i.MeanKl:0.00} β {i.KlCoefficient:0.0000} clip {i.ClipFraction:0.000} entropy {i.Entropy:0.000} value loss {i.ValueLoss:0.0000} ev {i.ExplainedVariance:0.00} {i.WallSeconds:0.00} s");

    private static void Show(CliContext cli, PpoRunStatus status)
    {
        if (cli.Json)
        {
            cli.WriteJson(status);
            return;
        }

        var table = new Table().AddColumns("PPO run", "value");
        table.AddRow("run, phase", $"{status.RunId}, {status.Phase.ToString().ToLowerInvariant()}");
        if (status.Spec is { } spec)
        {
            table.AddRow("from", $"policy {Markup.Escape(spec.PolicyRun)}, reward model {Markup.Escape(spec.RewardRun)}");
            table.AddRow("iteration", string.Create(CultureInfo.InvariantCulture, $"{status.Iteration} of {spec.Iterations} (checkpoint {status.LastCheckpointIteration})"));
            table.AddRow("updates", string.Create(CultureInfo.InvariantCulture, $"{spec.Stages} stage(s) x {spec.Replicas} replica(s) x {spec.MicroBatches} micro-batch(es)"));
        }

        table.AddRow("β", status.KlCoefficient.ToString("0.0000", CultureInfo.InvariantCulture));
        table.AddRow("score normalisation", string.Create(CultureInfo.InvariantCulture, $"mean {status.NormalizationMean:G5}, std {status.NormalizationStd:G5}"));
        foreach (var model in status.Models)
        {
            table.AddRow($"{model.Role} on", Markup.Escape(model.Silo));
        }

        foreach (var stage in status.TrainingStages)
        {
            var what = stage.Role == "rollout" ? "rollout inference stage" : $"{stage.Role} training stage";
            table.AddRow($"{what} {Markup.Escape(stage.Grain)} on", Markup.Escape(stage.Silo));
        }

        foreach (var recovery in status.Recoveries)
        {
            table.AddRow("recovered", Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"at {recovery.FailedAtStep} -> {recovery.ResumedFromStep} in {recovery.SecondsToResume:0.0} s: {recovery.Cause}")));
        }

        if (status.Error is { } error)
        {
            table.AddRow("error", Markup.Escape(error));
        }

        cli.Console.Write(table);
        foreach (var i in status.History.TakeLast(5))
        {
            cli.Console.WriteLine(Line(i, status.Spec?.Iterations ?? 0));
        }

        if (status.Samples.Count > 0)
        {
            var last = status.Samples.Max(s => s.Iteration);
            var samples = new Table().AddColumns("prompt", $"completion (iteration {last})", "score", "rule", "KL");
            foreach (var s in status.Samples.Where(s => s.Iteration == last))
            {
                samples.AddRow(Markup.Escape(s.Prompt), Markup.Escape(s.Completion + (s.Ended ? "" : " …")),
                    s.Score.ToString("+0.00;-0.00", CultureInfo.InvariantCulture), s.RuleScore.ToString("0.##", CultureInfo.InvariantCulture), s.Kl.ToString("0.00", CultureInfo.InvariantCulture));
            }

            cli.Console.Write(samples);
        }
    }
}
