package io.callbackd.console;

import org.junit.jupiter.api.Assumptions;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.logging.Level;
import java.util.stream.Stream;

/**
 * Debian's Chromium driven through Debian's chromedriver, headless, with a fresh profile. Both are given by path, so
 * Selenium never looks for (or downloads) a browser or a driver of its own.
 */
final class HeadlessChromium implements AutoCloseable {

  static final String CHROMIUM = "/usr/bin/chromium";
  static final String CHROMEDRIVER = "/usr/bin/chromedriver";

  private final ChromeDriver driver;
  private final Path profile;

  /** Skips the calling tests when the browser is not installed, except on CI, where that is a failure. */
  static void assumeInstalled() {
    boolean installed = Files.isExecutable(Path.of(CHROMIUM)) && Files.isExecutable(Path.of(CHROMEDRIVER));
    if (!installed && System.getenv("CI") != null) {
      throw new AssertionError(CHROMIUM + " and " + CHROMEDRIVER + " are required on CI (Debian packages chromium "
        + "and chromium-driver)");
    }
    Assumptions.assumeTrue(installed, "the console's browser tests need " + CHROMIUM + " and " + CHROMEDRIVER);
  }

  HeadlessChromium() {
    System.setProperty("webdriver.chrome.driver", CHROMEDRIVER);
    try {
      profile = Files.createTempDirectory("callbackd-console-chromium-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM);
    options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
      "--window-size=1280,900", "--user-data-dir=" + profile);
    LoggingPreferences logs = new LoggingPreferences();
    logs.enable(LogType.BROWSER, Level.ALL);
    options.setCapability("goog:loggingPrefs", logs);
    ChromeDriverService service = new ChromeDriverService.Builder()
      .usingDriverExecutable(new File(CHROMEDRIVER))
      .usingAnyFreePort()
      .build();
    driver = new ChromeDriver(service, options);
  }

  WebDriver driver() {
    return driver;
  }

  /** Saves what the browser shows to {@code target/console-<name>.png}. */
  Path screenshot(String name) {
    try {
      Path dir = Path.of("target");
      Files.createDirectories(dir);
      Path file = dir.resolve("console-" + name + ".png");
      Files.write(file, ((TakesScreenshot) driver).getScreenshotAs(OutputType.BYTES));
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The browser console's messages at SEVERE level since the last call (script errors, CSP violations, ...). */
  List<String> severeMessages() {
    List<String> out = new ArrayList<>();
    for (LogEntry e : driver.manage().logs().get(LogType.BROWSER)) {
      if (e.getLevel().intValue() >= Level.SEVERE.intValue()) {
        out.add(e.getMessage());
      }
    }
    return out;
  }

  @Override
  public void close() {
    try {
      driver.quit();
    } finally {
      try (Stream<Path> files = Files.walk(profile)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      } catch (IOException ignored) {
        // a leftover temporary profile is harmless
      }
    }
  }
}
