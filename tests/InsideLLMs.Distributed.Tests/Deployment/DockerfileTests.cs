using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;
using InsideLLMs.Distributed.Silo.Extensions;
using InsideLLMs.Distributed.Tests.Processes;

namespace InsideLLMs.Distributed.Tests.Deployment;

/// <summary>
/// The Dockerfiles and image scripts against the projects they package: the entry assembly each image runs is the one
/// the project builds, the base is a build argument defaulting to the official ASP.NET Core runtime, the user is not
/// root, and the silo image's user and ports are the Deployment's.
/// </summary>
public sealed partial class DockerfileTests
{
    public static TheoryData<string, string> Images => new()
    {
        { "silo.Dockerfile", "Silo" },
        { "client.Dockerfile", "Client" },
    };

    [Theory]
    [MemberData(nameof(Images))]
    public void Dockerfile_RunsTheProjectsBuiltEntryAssembly(string dockerfile, string project)
    {
        var text = Read(dockerfile);
        var entry = EntryPoint().Match(text);

        Assert.True(entry.Success, $"{dockerfile} has no ENTRYPOINT [\"dotnet\", \"/app/<assembly>.dll\"]");
        var assembly = entry.Groups[1].Value;
        Assert.Equal(EntryAssembly(project).GetName().Name + ".dll", assembly);
        var built = Path.Combine(RepositoryPaths.Root(), "src", project, "bin", RepositoryPaths.Configuration(typeof(DockerfileTests).Assembly), "net10.0", "linux-x64", assembly);
        Assert.True(File.Exists(built), $"{dockerfile} runs {assembly}, but the {project} project does not build it ({built})");
        Assert.Contains("COPY --chown=0:0 . /app", text, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Dockerfile_BaseIsABuildArgumentDefaultingToTheAspNetRuntime(string dockerfile, string project)
    {
        var lines = Instructions(Read(dockerfile));

        Assert.Equal("ARG BASE_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0", lines[0]);
        Assert.Equal("FROM ${BASE_IMAGE}", Assert.Single(lines, l => l.StartsWith("FROM ", StringComparison.Ordinal)));
        Assert.NotEmpty(project);
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Dockerfile_RunsAsANonRootNumericUser(string dockerfile, string project)
    {
        var lines = Instructions(Read(dockerfile));

        var user = Assert.Single(lines, l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.Equal("USER ${APP_UID}:${APP_UID}", user);
        var uid = int.Parse(Assert.Single(lines, l => l.StartsWith("ARG APP_UID=", StringComparison.Ordinal))["ARG APP_UID=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.NotEqual(0, uid);
        Assert.True(lines.IndexOf(user) > lines.FindIndex(l => l.StartsWith("RUN ", StringComparison.Ordinal)), "USER must come after the RUN that creates the user");
        Assert.True(lines.IndexOf(user) < lines.FindIndex(l => l.StartsWith("ENTRYPOINT ", StringComparison.Ordinal)), $"{project}: USER must come before ENTRYPOINT");
    }

    [Fact]
    public void SiloImage_UserAndPortsAreTheDeployments()
    {
        var lines = Instructions(Read("silo.Dockerfile"));
        var rendered = RenderedOverlay.Render("local");
        var uid = long.Parse(Assert.Single(lines, l => l.StartsWith("ARG APP_UID=", StringComparison.Ordinal))["ARG APP_UID=".Length..], System.Globalization.CultureInfo.InvariantCulture);

        Assert.Equal(uid, rendered.Silo.Spec.Template.Spec.SecurityContext.RunAsUser);
        var exposed = Assert.Single(lines, l => l.StartsWith("EXPOSE ", StringComparison.Ordinal))["EXPOSE ".Length..].Split(' ').Select(int.Parse).Order();
        Assert.Equal(rendered.SiloContainer.Ports.Select(p => p.ContainerPort).Order(), exposed);
        Assert.Contains($"Urls={rendered.Env("Urls").Value}", Read("silo.Dockerfile"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("build-base-image.sh")]
    [InlineData("build-images.sh")]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // the images and scripts are Linux-only, as the build's runtime identifier is
    public void Script_IsExecutableBashWithoutSyntaxErrors(string script)
    {
        var path = Path.Combine(Folder(), script);
        Assert.True((File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0, $"{script} is not executable");

        var start = new ProcessStartInfo("bash") { RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-n");
        start.ArgumentList.Add(path);
        using var bash = Process.Start(start)!;
        var errors = bash.StandardError.ReadToEnd();
        bash.WaitForExit();
        Assert.True(bash.ExitCode == 0, $"bash -n {script}: {errors}");
    }

    [Fact]
    public void BaseImageScript_DebootstrapsBookwormAndCopiesBothSharedRuntimes()
    {
        var text = File.ReadAllText(Path.Combine(Folder(), "build-base-image.sh"));

        Assert.Matches(@"debootstrap --variant=minbase [^\n]*bookworm ""\$rootfs""", text);
        Assert.Contains("docker import", text, StringComparison.Ordinal);
        Assert.Contains("shared/Microsoft.NETCore.App/$netcore", text, StringComparison.Ordinal);
        Assert.Contains("shared/Microsoft.AspNetCore.App/$aspnet", text, StringComparison.Ordinal);
    }

    [Fact]
    public void ImagesScript_PublishesTheProjectsAndBuildsBothDockerfiles()
    {
        var text = File.ReadAllText(Path.Combine(Folder(), "build-images.sh"));

        foreach (var (dockerfile, project) in new[] { ("silo.Dockerfile", "Silo"), ("client.Dockerfile", "Client") })
        {
            Assert.Contains($"dotnet publish \"$root/src/{project}/{project}.csproj\"", text, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(RepositoryPaths.Root(), "src", project, $"{project}.csproj")));
            Assert.Contains($"-f \"$here/{dockerfile}\"", text, StringComparison.Ordinal);
        }
    }

    private static Assembly EntryAssembly(string project) => project switch
    {
        "Silo" => typeof(SiloSettings).Assembly,
        "Client" => typeof(InsideLLMs.Distributed.Client.Cli.CliContext).Assembly,
        _ => throw new ArgumentOutOfRangeException(nameof(project), project, "no such project"),
    };

    private static string Folder() => Path.Combine(RepositoryPaths.Root(), "deploy", "docker");

    private static string Read(string dockerfile) => File.ReadAllText(Path.Combine(Folder(), dockerfile));

    /// <summary>The instructions, one a line: comments dropped, continuation lines joined.</summary>
    private static List<string> Instructions(string dockerfile) => [.. dockerfile.Replace("\\\n", " ", StringComparison.Ordinal)
        .Split('\n')
        .Select(l => l.Trim())
        .Where(l => l.Length > 0 && !l.StartsWith('#'))];

    [GeneratedRegex(@"^ENTRYPOINT \[""dotnet"", ""/app/([^""]+\.dll)""\]", RegexOptions.Multiline)]
    private static partial Regex EntryPoint();
}
